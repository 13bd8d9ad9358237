"""ComfyUI's records in words: history entries, execution errors, node errors.

What the server says about a prompt is shown without its internals: an execution error keeps the
node id and type, the exception type and the first line of its message, with the server's folders
cut from any path; tracebacks and the node's inputs (which may hold secrets) never reach the user.
``step_error`` turns a failed step's record into the error the CLI prints, resumable only when a
retry can cure it (out of memory, interrupted by someone).
"""

from __future__ import annotations

import re

from ..errors import StepFailed


def history_outcome(entry: dict) -> str:
    """``success`` / ``error`` / ``interrupted`` from a history entry's status messages."""
    status = entry.get("status") or {}
    if status.get("status_str") == "success":
        return "success"
    for event, _ in status.get("messages", []):
        if event == "execution_interrupted":
            return "interrupted"
    return "error"


def history_error(entry: dict) -> dict:
    """The ``execution_error`` (or ``execution_interrupted``) record of a failed prompt's history."""
    for event, data in (entry.get("status") or {}).get("messages", []):
        if event in ("execution_error", "execution_interrupted"):
            return {**data, "event": event}
    return {"event": "execution_error", "exception_message": "failed without an error message"}


_TRACEBACK_LINE = re.compile(r'^\s*(Traceback \(most recent call last\):|File ".*", line \d+)')
_PATH = re.compile(r"""(?:[A-Za-z]:\\|\\\\|/)(?:[^\s'"<>|:*?\\/]+[\\/])+([^\s'"<>|:*?\\/]*)""")


def strip_server_paths(text: str) -> str:
    """A server's message without its folders: an absolute path keeps only its last part."""
    return _PATH.sub(lambda m: m.group(1) or "…", text)


def execution_error_text(data: dict) -> str:
    """One line for an ``execution_error`` / ``execution_interrupted`` record: node id and type,
    exception type and message (first line), without traceback, inputs or server paths."""
    node = f"node {data.get('node_id')} ({data.get('node_type')})" if data.get("node_id") is not None else "the prompt"
    if data.get("event") == "execution_interrupted":
        return f"interrupted at {node}"
    lines = [line.strip() for line in str(data.get("exception_message") or "").splitlines()
             if line.strip() and not _TRACEBACK_LINE.match(line)]
    message = strip_server_paths(lines[0]) if lines else "failed without an error message"
    kind = str(data.get("exception_type") or "error").rsplit(".", 1)[-1]
    return f"{node}: {kind}: {message}"


def is_out_of_memory(data: dict) -> bool:
    """ComfyUI's record of a node that ran out of (GPU) memory."""
    kind = str(data.get("exception_type") or "")
    text = str(data.get("exception_message") or "").lower()
    return "OutOfMemory" in kind or "out of memory" in text


def format_node_errors(node_errors: dict, prompt: dict | None = None) -> list[str]:
    """One line per node error: ``node ID (Class, "title") input NAME: message: details``."""
    lines = []
    for node_id, entry in node_errors.items():
        cls = entry.get("class_type", "?")
        title = ((prompt or {}).get(node_id, {}).get("_meta") or {}).get("title")
        label = f"node {node_id} ({cls}{', ' + repr(title) if title else ''})"
        for err in entry.get("errors", []):
            message, details = err.get("message", ""), strip_server_paths(str(err.get("details", "")))
            name = (err.get("extra_info") or {}).get("input_name")
            where = f"{label} input {name}" if name else label
            lines.append(f"{where}: {message}" + (f": {details}" if details else ""))
    return lines


def step_error(step_id: str, server: str, record: dict) -> StepFailed:
    """A failed prompt's error for one step: resumable when a retry can cure it (out of memory,
    interrupted by someone), otherwise saying what to fix."""
    message = f"{step_id} failed on {server}: {execution_error_text(record)}"
    if record.get("event") == "execution_interrupted":
        return StepFailed(message, code="interrupted", resumable=True, hint=f"someone interrupted it on {server}")
    if is_out_of_memory(record):
        return StepFailed(message, code="out_of_memory", resumable=True,
                          hint=f"free memory on {server} (other jobs, loaded models) or plan smaller steps")
    node = f"node {record.get('node_id')} ({record.get('node_type')})" if record.get("node_id") else "the server"
    return StepFailed(message, hint=f"this repeats as it is: fix what {node} reports (an input of the plan, or the "
                                    f"server's models and packages), then run it again; finished steps are kept")
