"""Running on ComfyUI servers: the HTTP/websocket client, the runner that owns each run's loop
and every prompt's flow, the manifest of a run directory, and starting or resuming runs.

``start_run`` validates a run, creates (or reopens) its run directory and runs it through the
servers of a ``ConnectionOptions``; ``Runner`` is the loop (scheduling, events, transfers,
resume); ``Manifest`` the run directory's record that makes a run survive a machine dying.
"""

from .client import ComfyClient
from .manifest import Manifest, StepState, lock_run_dir
from .runner import Runner
from .start import ConnectionOptions, execute_run, run_batch, run_plan, server_clients, start_run, validate_all

__all__ = ["ComfyClient", "ConnectionOptions", "Manifest", "Runner", "StepState", "execute_run", "lock_run_dir",
           "run_batch", "run_plan", "server_clients", "start_run", "validate_all"]
