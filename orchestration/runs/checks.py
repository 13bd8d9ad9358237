"""Value checks shared by the run models (``runs.models``): every plan field's type and range,
input files, prompt text and the frame memory a step needs, each refused with a ``PlanError``
naming the input, the value and the fix.  Also the torch-free probes of inputs (PyAV headers,
``video_utils.core.probe``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import av

from ...video_utils.core.constants import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.lengths import MAX_FPS
from ...video_utils.core.probe import MediaInfo, probe
from ...video_utils.core.prompt_text import check_prompt_text
from ...video_utils.core.recipe import check_choice, finite  # noqa: F401 - check_choice: shared with run modules

# --- value checks ---------------------------------------------------------------------------------

def size_fix(what: str) -> str:
    """The command line's advice for a step above the memory limit (``lengths.check_step_memory``)."""
    return f"use a smaller size (--size, e.g. 832x480) or shorter {what}s"


def check_text(value: Any, name: str) -> str:
    """A prompt of a plan: a string (``video_utils.core.prompt_text`` checks the text itself)."""
    if not isinstance(value, str):
        raise PlanError(f"{name}={brief(value)} must be text")
    return check_prompt_text(value, name)


def check_name(value: Any, name: str, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise PlanError(f"{name}={brief(value)} must be {'a' if empty else 'a non-empty'} text value")
    return value


def check_fps(value: Any, name: str, zero_ok: bool = False) -> float:
    rate = finite(value, name)
    if zero_ok and rate == 0:
        return rate
    if not 0 < rate <= MAX_FPS:
        raise PlanError(f"{name}={value!r} must be a positive frame rate up to {MAX_FPS}"
                        + (" (0 = the first clip's)" if zero_ok else ""))
    return rate


def check_file(path: Any, label: str, extensions: Sequence[str] | None) -> None:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise PlanError(f"{label}={brief(path)} must be a file path")
    p = Path(path)
    if str(path).lower().startswith(("http://", "https://")):
        raise PlanError(f"{label} {str(path)!r} is a URL: download it and give the local path")
    if not p.is_file():
        raise PlanError(f"{label} {str(path)!r} does not exist: check the path")
    if extensions is IMAGE_EXTENSIONS and p.suffix.lower() not in extensions:
        what = "a video" if p.suffix.lower() in VIDEO_EXTENSIONS else "not an image"
        raise PlanError(f"{label} {str(path)!r} is {what} ({p.suffix or 'no extension'}): give an image file "
                        f"({', '.join(extensions)})")
    if p.stat().st_size == 0:
        raise PlanError(f"{label} {str(path)!r} is an empty file (0 bytes): copy or export it again")


def image_size(path: str) -> tuple[int, int] | None:
    """An image's ``(width, height)`` from its header (PyAV, no decoding), or None when the header
    cannot be read (the loader that decodes it says why)."""
    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                ctx = container.streams.video[0].codec_context
                if ctx.width and ctx.height:
                    return int(ctx.width), int(ctx.height)
    except av.error.FFmpegError:
        pass
    return None


def probe_clip(path: str | os.PathLike, label: str = "clip") -> MediaInfo:
    """``video_utils.core.probe`` of a clip, its error prefixed with ``label`` (which clip)."""
    try:
        return probe(path)
    except PlanError as e:
        raise PlanError(f"{label}: {e}") from None


def probe_frame_count(path: str | os.PathLike, label: str = "clip") -> int:
    return probe_clip(path, label).frame_count
