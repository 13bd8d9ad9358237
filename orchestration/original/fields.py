"""Reading an original orchestrator payload: its ``orchestrator_details`` object, each field
marked when read (so every field nobody read is named in a warning, none dropped silently), and
the value checks the travel, join and generator conversions share.
"""

from __future__ import annotations

from typing import Any

from ...video_utils.core.errors import PlanError, brief

# Fields that only restate what Segue does, or bookkeeping with no effect on the video.
NO_EFFECT = {"debug_mode_enabled", "skip_cleanup_enabled", "use_parallel_joins", "vlm_device", "svi_strength",
             "svi_strength_1", "svi_strength_2"}


def payload_details(payload: dict) -> dict:
    """The ``orchestrator_details`` object of a task, its ``params``, or the object itself."""
    p = payload
    if isinstance(p.get("params"), dict):
        p = p["params"]
    details = p.get("orchestrator_details", p)
    if not isinstance(details, dict):
        raise PlanError(f"orchestrator_details={brief(details)} must be an object")
    return details


class PayloadFields:
    """The payload's fields, each marked when it is read, so the unread ones can be named."""

    def __init__(self, details: dict):
        self.details = details
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return self.details.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        value = self.details.get(key)
        return default if value is None else value

    def unread(self) -> list[str]:
        return [k for k in self.details if k not in self.used and k not in NO_EFFECT]


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise PlanError(f"{name}={brief(value)} must be text")
    return value


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{name}={brief(value)} must be a number")
    return float(value)


def resolution(value: Any, name: str) -> tuple[int, int]:
    """``"832x480"`` or ``[832, 480]``."""
    try:
        if isinstance(value, str):
            w, h = (int(v) for v in value.lower().split("x"))
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            w, h = (int(v) for v in value)
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise PlanError(f"{name}={brief(value)} is not a size: write it like \"832x480\"") from None
    return w, h
