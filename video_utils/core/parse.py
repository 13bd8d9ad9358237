"""Text values as the nodes' widgets and the step prompts carry them -> values, with errors
that name the input, the value and the fix: number lists (``"48, 64"``), file lists (one name a
line, ``#`` comments), prompt lines, per-join override JSON (``null`` = no override, the rule of
every path), and the one way a per-item setting with one value is written (``one_or_list``).

Pure Python (no torch, no ComfyUI): the nodes, the local executor and the command line share it.
"""

from __future__ import annotations

import json
import re

from .errors import PlanError
from .prompt_text import check_prompt_text, segment_prompts

_SPLIT = re.compile(r"[\s,;]+")


def int_list(text, name: str, minimum: int | None = None) -> list[int]:
    """``"80"``, ``"80, 64, 80"``, ``"80 64"`` or ``"[80, 64]"`` -> ``[80, 64, 80]``."""
    if isinstance(text, bool):
        raise PlanError(f"{name}={text!r} must be whole numbers like '80' or '80, 64, 80'")
    if isinstance(text, int):
        values = [text]
    else:
        body = str(text).strip().strip("[]()")
        if not body.strip():
            raise PlanError(f"{name} is empty: give a number like 8, or one per item like '8, 10, 8'")
        values = []
        for token in (t for t in _SPLIT.split(body) if t):
            try:
                values.append(int(token))
            except ValueError:
                raise PlanError(
                    f"{name}={text!r}: {token!r} is not a whole number; write numbers separated by commas, "
                    f"like '80, 64, 80'"
                ) from None
    if minimum is not None:
        for v in values:
            if v < minimum:
                raise PlanError(f"{name}={text!r}: {v} is below the minimum {minimum}")
    return values


def one_or_list(values):
    """``[x]`` -> ``x``, longer lists unchanged, ``None`` stays: the one way a per-item setting
    with a single value is written (a plan file's ``"overlap": 8``, a widget's ``"8"``; the
    planners broadcast it)."""
    if values is None:
        return None
    values = list(values) if isinstance(values, (list, tuple)) else values
    return values[0] if isinstance(values, list) and len(values) == 1 else values


def lines(text, name: str, required: bool = True) -> list[str]:
    """Non-empty, stripped lines of a multiline widget (``#`` starts a comment line)."""
    items = [ln.strip() for ln in str(text or "").splitlines()]
    items = [ln for ln in items if ln and not ln.startswith("#")]
    if required and not items:
        raise PlanError(f"{name} is empty: give one file name per line")
    return items


def prompt_text(value, name: str) -> str:
    """A prompt widget's text (empty when unset), checked by ``video_utils.core.prompt_text``."""
    return check_prompt_text(str(value or ""), name)


def per_segment_text(text, count: int, name: str, what: str = "segment") -> list[str]:
    """One prompt per line: one line for every item, or exactly one line per item
    (``video_utils.core.prompt_text.segment_prompts``, the rule of plan files and the command line)."""
    items = [ln.strip() for ln in prompt_text(text, name).splitlines() if ln.strip()]
    return segment_prompts(items, count, name, what)


def per_join_overrides(text, name: str = "per_join") -> list[dict]:
    """``""`` -> ``[]``; otherwise a JSON list of objects (``null`` or ``{}`` = no override)."""
    body = str(text or "").strip()
    if not body:
        return []
    try:
        value = json.loads(body)
    except json.JSONDecodeError as e:
        raise PlanError(
            f"{name} is not valid JSON ({e.msg} at character {e.pos}): write a list like "
            f'[{{"gap": 33}}, {{}}, {{"context": 12, "replace": true}}]'
        ) from None
    if not isinstance(value, list) or not all(v is None or isinstance(v, dict) for v in value):
        raise PlanError(
            f"{name} must be a JSON list with one object (or null) per join, got {body[:80]!r}: "
            f'write e.g. [{{"gap": 33}}, null]'
        )
    return [v or {} for v in value]
