"""The run and its plan files.

A run (``TravelRun``, ``JoinRun``, ``ExtendRun``) is everything a render needs, validated up
front by the planners the nodes use; a plan file is a run as JSON.  ``steps`` names each step of
a run and the file it writes, ``prompts`` turns a run's steps into ComfyUI API prompts through
the one graph builder, ``export`` writes them without a server.
"""

from .common import PLAN_VERSION, ClipRef
from .extend import ExtendRun
from .generator import GeneratorConfig
from .join import JoinRun
from .models import RUN_CLASSES, Run, finalize_run, new_run_id, run_from_dict, run_inputs_paths, validate_run
from .plan_files import PlanSource, load_plan, read_batch, read_plan, save_plan
from .travel import TravelRun

__all__ = ["Run", "TravelRun", "JoinRun", "ExtendRun", "ClipRef", "GeneratorConfig", "PLAN_VERSION", "RUN_CLASSES",
           "finalize_run", "new_run_id", "run_from_dict", "run_inputs_paths", "validate_run", "PlanSource",
           "load_plan", "read_batch", "read_plan", "save_plan"]
