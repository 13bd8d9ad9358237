"""The runs the orchestrator executes: travels, joins and extensions, validated up front.

A *run* is everything a ``/prompt`` orchestration (or the local renderer) needs: the inputs
(keyframe images, clips, or the clip to extend), the frame settings, the prompts, the seed
policy, the generator (``GeneratorConfig``: the recipe plus model file names), the colour and
guide adjustments and the output.  Plan files (``plan_files``) are these objects as JSON; the
original queue orchestrator's payloads convert to them (``original_payloads``).

Each kind has its module (``travel_run``, ``join_run``, ``extend_run``; what they share is in
``run_common``, the generator in ``generator_config``); this one is where callers get them all
(``from segue.orchestration.run_models import GeneratorConfig, TravelRun``) and holds what is the
same for every kind: the ``Run`` type, run ids and seeds fixed before the first submission, and
the files a run sends to a server.

Frame arithmetic is never done here: ``validate()`` calls the same planners the nodes use
(``video_utils.travel_plan`` / ``join_plan`` / ``extend_plan``), so a run that validates here is
the plan the server executes.  Every field is type- and range-checked, so a bad value is refused
with a ``PlanError`` naming it, its value and the fix, before any server is contacted and before
anything is written.  Clips are probed with ``video_utils.probe`` (PyAV, no torch).
"""

from __future__ import annotations

import random
import time

from .extend_run import ExtendRun
from .generator_config import GeneratorConfig
from .join_run import JoinRun
from .run_common import PLAN_VERSION, ClipRef
from .travel_run import TravelRun

__all__ = ["Run", "RUN_CLASSES", "PLAN_VERSION", "ClipRef", "GeneratorConfig", "TravelRun", "JoinRun", "ExtendRun",
           "new_run_id", "finalize_run", "run_inputs_paths"]

Run = TravelRun | JoinRun | ExtendRun
RUN_CLASSES = {"travel": TravelRun, "join": JoinRun, "extend": ExtendRun}


# --- run ids and seeds --------------------------------------------------------------------------

def new_run_id(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(16 ** 4):04x}"


def finalize_run(run: Run) -> Run:
    """Fill what must be fixed before the first submission: a run id and a concrete seed."""
    if not run.run_id:
        run.run_id = new_run_id(run.kind)
    if run.seed == -1:
        run.seed = random.randrange(2 ** 31)
    return run


def run_inputs_paths(run: Run) -> list[tuple[str, str]]:
    """``(stem, path)`` of every file a run sends to a server, in the order its prompts name
    them: keyframes (travel) or clips (join), or the clip then the ``--to`` keyframes (extend),
    then the reference images, then a travel's soundtrack."""
    if isinstance(run, TravelRun):
        named = [(f"key_{i:03d}", p) for i, p in enumerate(run.images)]
    elif isinstance(run, JoinRun):
        named = [(f"clip_{i:03d}", c.path) for i, c in enumerate(run.clips)]
    else:
        named = [("clip_000", run.clip.path)] + [(f"key_{i:03d}", p) for i, p in enumerate(run.keyframes)]
    named += [(f"ref_{i:03d}", p) for i, p in enumerate(run.generator.reference_paths())]
    if isinstance(run, TravelRun) and run.soundtrack:
        named.append(("sound_000", run.soundtrack))
    return named
