"""Errors of the orchestrator: a code, a one-line message, a hint, and the exit code.

Every failure the orchestrator expects carries ``code`` (snake_case, stable: scripts branch on
it), ``message`` (what went wrong, one line per problem, never a server traceback or a server's
file paths), ``hint`` (what to do about it) and ``resumable`` (a ``segue resume`` can cure it as
it is: the server went away, ran out of memory, was interrupted, lost a file).  Failures that
repeat when retried as they are (a rejected prompt, a node raising on its inputs, a frame count
the plan does not expect) say what to fix instead of offering a resume.

| exit | meaning |
|---|---|
| 0 | the run finished (or, with ``--detach``, was submitted); ``status``/``cancel`` succeeded |
| 1 | the run failed: a step failed on the server, or its file could not be fetched or stored |
| 2 | bad input, nothing was submitted: a bad plan (missing image, one image, overlap too large, clip too short), an unknown model file or node, a prompt the server rejected, a busy run directory |
| 3 | a server could not be reached or stopped answering (before submitting, or for longer than ``--server-timeout`` during the run); ``segue resume RUN_DIR`` continues |
| 130 | interrupted (Ctrl-C): our prompts were cancelled on the servers; ``segue resume RUN_DIR`` continues |
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..video_utils.core.errors import PlanError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class OrchestrationError(Exception):
    """Something went wrong while running a plan on ComfyUI; ``str()`` is the message."""

    code = "failed"
    exit_code = EXIT_FAILED
    resumable = False
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None,
                 resumable: bool | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        if code is not None:
            self.code = code
        if resumable is not None:
            self.resumable = resumable
        self.details = details or {}


class ServerUnreachable(OrchestrationError):
    """No connection (refused, reset, no route) after the client's bounded retries."""

    code = "server_unreachable"
    exit_code = EXIT_UNREACHABLE
    resumable = True
    default_hint = "start the server or check --server"


class ServerNotAnswering(ServerUnreachable):
    """Connected, but no answer within the timeout: the server is hung or overloaded."""

    code = "server_not_answering"
    default_hint = "the server may be hung or swamped: look at its console, restart it if needed"


class ServerError(ServerUnreachable):
    """The server kept answering 5xx (or something that is not ComfyUI's API)."""

    code = "server_error"
    default_hint = "look at the server's console for the cause; check that --server points at ComfyUI"


class PromptRejected(OrchestrationError):
    """``/prompt`` answered with ``node_errors`` (HTTP 400, or 200 with a non-empty dict)."""

    code = "prompt_rejected"
    exit_code = EXIT_BAD_INPUT
    default_hint = "fix the inputs named above (a model file the server lacks, a value out of range); nothing ran"

    def __init__(self, message: str, node_errors: list[str] | None = None, **kw):
        super().__init__(message, **kw)
        self.node_errors = node_errors or []


class UploadRejected(OrchestrationError):
    code = "upload_rejected"
    exit_code = EXIT_BAD_INPUT


class StepFailed(OrchestrationError):
    """A step failed on its server or its output was not what the plan needs."""

    code = "execution_error"
    exit_code = EXIT_FAILED


class OutputMissing(StepFailed):
    """The step finished but its file is not in ``/history`` or ``/view`` (deleted, other disk)."""

    code = "output_missing"
    resumable = True
    default_hint = "the step runs again on resume"


class DiskFull(StepFailed):
    """Writing a download (or the manifest) into the run directory failed for lack of space."""

    code = "disk_full"
    resumable = True


class RunBusy(OrchestrationError):
    """Another ``segue`` process holds the run directory."""

    code = "run_busy"
    exit_code = EXIT_BAD_INPUT
    default_hint = "wait for the other segue process to finish, or stop it (Ctrl-C cancels its prompts)"


NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def write_error(error: OSError, path: Path) -> OrchestrationError:
    """A local write failure in words: a full disk (or a file-size limit) is ``DiskFull``."""
    if error.errno in NO_SPACE:
        return DiskFull(f"no space to write {path} ({error.strerror}); nothing was left half-written",
                        hint=f"free space on the disk of {Path(path).parent}")
    return OrchestrationError(f"cannot write {path}: {error.strerror or error}", code="write_failed",
                              hint="check the folder's permissions")


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, PlanError):
        return EXIT_BAD_INPUT
    if isinstance(error, OrchestrationError):
        return error.exit_code
    return EXIT_FAILED


def error_lines(error: BaseException, run_dir: str | None = None) -> list[str]:
    """What the CLI prints for an expected failure: ``error: ...`` per message line, then
    ``hint: ...``.  ``segue resume`` is offered only for what a resume can cure (``resumable``,
    Ctrl-C), and only once there is a run directory to resume."""
    if isinstance(error, KeyboardInterrupt):
        lines = ["error: interrupted; this run's prompts were cancelled on the servers"]
        return lines + ([f"hint: `segue resume {run_dir}` continues"] if run_dir else [])
    lines = [f"error: {line}" for line in str(error).splitlines() or [type(error).__name__]]
    hint = getattr(error, "hint", "") or ""
    if getattr(error, "resumable", False) and run_dir:
        resume = f"`segue resume {run_dir}` continues (finished steps are kept)"
        hint = f"{hint}; then {resume}" if hint else resume
    return lines + ([f"hint: {hint}"] if hint else [])


def print_lines(prefix: str, lines: Sequence[str]) -> None:
    """``segue: <prefix>: line`` on stderr for each line (warnings never change the exit code)."""
    for line in lines:
        print(f"segue: {prefix}: {line}", file=sys.stderr)


def guarded(fn: Callable[..., int]) -> Callable[..., int]:
    """A server command whose expected failures become ``segue: error:`` / ``segue: hint:`` lines
    and an exit code; bugs keep their traceback."""
    def wrapper(*args) -> int:
        try:
            return fn(*args)
        except (PlanError, OrchestrationError, KeyboardInterrupt) as e:
            for line in error_lines(e, getattr(e, "run_dir", None)):
                print(f"segue: {line}", file=sys.stderr)
            return exit_code_for(e)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper
