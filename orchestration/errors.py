"""Errors of the orchestrator and the exit code each one maps to.

| exit | meaning |
|---|---|
| 0 | the run finished (or, with ``--detach``, was submitted); ``status``/``cancel`` succeeded |
| 1 | the run failed: a step failed on the server (its error is printed); ``segue resume RUN_DIR`` retries it |
| 2 | bad input, nothing was submitted: a bad plan (missing image, one image, overlap too large, clip too short), an unknown model file or node, a prompt the server rejected |
| 3 | a server could not be reached (before submitting, or for longer than ``--server-timeout`` during the run); ``segue resume RUN_DIR`` continues |
| 130 | interrupted (Ctrl-C): our prompts were cancelled on the servers; ``segue resume RUN_DIR`` continues |
"""

from __future__ import annotations

from ..video_utils.errors import PlanError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class OrchestrationError(Exception):
    """Something went wrong while running a plan on ComfyUI; ``str()`` is one clear line."""

    exit_code = EXIT_FAILED


class ServerUnreachable(OrchestrationError):
    exit_code = EXIT_UNREACHABLE


class PromptRejected(OrchestrationError):
    """``/prompt`` answered with ``node_errors`` (HTTP 400, or 200 with a non-empty dict)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, node_errors: list[str] | None = None):
        super().__init__(message)
        self.node_errors = node_errors or []


class UploadRejected(OrchestrationError):
    exit_code = EXIT_BAD_INPUT


class StepFailed(OrchestrationError):
    exit_code = EXIT_FAILED


class RunBusy(OrchestrationError):
    """Another ``segue`` process holds the run directory."""

    exit_code = EXIT_BAD_INPUT


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, PlanError):
        return EXIT_BAD_INPUT
    if isinstance(error, OrchestrationError):
        return error.exit_code
    return EXIT_FAILED
