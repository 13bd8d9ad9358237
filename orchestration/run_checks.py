"""Value checks shared by the run models (``run_models``): every plan field's type and range,
input files, prompt text and the frame memory a step needs, each refused with a ``PlanError``
naming the input, the value and the fix.  Also the torch-free probes of inputs (PyAV headers,
``video_utils.probe``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ..video_utils.constants import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..video_utils.errors import PlanError
from ..video_utils.lengths import MAX_FPS
from ..video_utils.probe import MediaInfo, probe
from ..video_utils.recipe import finite

MAX_PROMPT_CHARS = 20_000        # umT5 reads 512 tokens; a prompt this long is a mistake (a pasted file)
# Frames one step holds at once: the guide (RGB + mask, float32) and the generated frames (RGB
# float32) = 28 bytes per pixel and frame.  A step above the limit is refused before anything
# is loaded or allocated (a --size typo must not take the machine down).
BYTES_PER_PIXEL_FRAME = 28
MAX_STEP_MEMORY = 32 * 2 ** 30
MIN_SIDE = 32                    # 2 latent cells at Wan's 16-pixel grid: below it nothing recognisable is made


# --- value checks ---------------------------------------------------------------------------------

def check_frame_memory(width: int, height: int, frames: int, what: str, generated: bool = True) -> None:
    """Refuse a step whose frames (``width`` x ``height`` x ``frames``) exceed ``MAX_STEP_MEMORY``
    and (``generated``: the size the model makes) a size too small to generate, before anything
    is loaded."""
    if generated and min(width, height) < MIN_SIDE:
        raise PlanError(f"size {width}x{height} is too small to generate: use at least {MIN_SIDE}x{MIN_SIDE} "
                        f"(Wan is trained at about 832x480)")
    need = int(width) * int(height) * int(frames) * BYTES_PER_PIXEL_FRAME
    if need > MAX_STEP_MEMORY:
        raise PlanError(f"size {width}x{height} with {frames}-frame {what}s needs {_bytes(need)} of frame memory "
                        f"per {what}, above the limit of {_bytes(MAX_STEP_MEMORY)}: use a smaller size (--size, "
                        f"e.g. 832x480) or shorter {what}s")


def _bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def check_text(value: Any, name: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """A prompt: a string of UTF-8-encodable text (command-line bytes that are not UTF-8 arrive
    as lone surrogates) of at most ``limit`` characters."""
    if not isinstance(value, str):
        raise PlanError(f"{name}={brief(value)} must be text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PlanError(f"{name} is not UTF-8 text (an undecodable byte at character {e.start}): "
                        f"write the prompt in UTF-8") from None
    if len(value) > limit:
        raise PlanError(f"{name} has {len(value)} characters ({brief(value)}), above the limit of {limit}: "
                        f"shorten it (Wan's text encoder reads about 512 tokens)")
    return value


def brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_name(value: Any, name: str, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise PlanError(f"{name}={brief(value)} must be {'a' if empty else 'a non-empty'} text value")
    return value


def check_choice(value: Any, options: Sequence[str], name: str) -> str:
    if value not in options:
        raise PlanError(f"{name}={brief(value)} is not one of {', '.join(options)}")
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
    import av

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
    """``video_utils.probe`` of a clip, its error prefixed with ``label`` (which clip)."""
    try:
        return probe(path)
    except PlanError as e:
        raise PlanError(f"{label}: {e}") from None


def probe_frame_count(path: str | os.PathLike, label: str = "clip") -> int:
    return probe_clip(path, label).frame_count


def broadcast_text(value: Any, count: int, name: str) -> list[str]:
    if isinstance(value, str):
        return [check_text(value, name)] * count
    if not isinstance(value, list) or not value:
        raise PlanError(f"{name}={brief(value)} must be a text or a list of texts, one per segment")
    items = [check_text(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise PlanError(f"{name} has {len(items)} entries but there are {count} segments: "
                        f"give one (used for all) or exactly {count}")
    return items


def int_or_list(value):
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value
