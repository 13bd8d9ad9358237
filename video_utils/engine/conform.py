"""The conform stage: any footage or image to the pixels a video needs, in one place.

Users bring phone clips, 1080p camera footage, portrait video stored landscape, odd sizes and
any frame rate. Every path (UI nodes, the orchestrator's server steps, the local CLI) calls this
module, so a clip comes out the same whichever path it took. Pixels only; which size and which
rate are decided elsewhere (``sizes.output_size`` / ``sizes.working_size``, the planners) and
which source frame each output frame shows is ``retime.conform_frame_map``.

Order of work for every picture: **orientation** first (the display matrix or EXIF: a portrait
phone clip is upright before anything is measured), then the **fit** to the target size, in
the picture's displayed geometry (non-square pixels count at their displayed width):

* ``crop``: centre-crop to the target aspect, then resize (no distortion; edges cut off);
* ``pad``: resize to fit inside, centred on black (letterbox / pillarbox; nothing cut off);
* ``stretch``: resize to the target (everything kept, distorted when the aspects differ).

Resizing is bilinear, antialiased when shrinking, chunked into a preallocated output. The same
function scales frames generated at the working size to the output size.

``conform_video`` streams a file: it decodes a few frames at a time (``video_read.iter_frames``,
accurate colour), keeps those the frame map asks for, orients and fits them, and yields
float32 IMAGE chunks; memory stays at one source chunk plus one output chunk whatever the
clip's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..core.constants import CONFORM_FIT_MODES, DEFAULT_FIT
from ..core.errors import PlanError
from ..core.probe import Orientation, probe
from ..core.retime import conform_frame_map
from ..core.sizes import check_fit, generation_size, wan_size
from .video_read import iter_frames

_CHUNK = 16
# Source frames decoded at once by conform_video: as many as fit here (at least one), so a 4K
# clip holds one ~100 MB float frame at a time and a small clip a whole chunk.
_SOURCE_BYTES = 64 * 2 ** 20


@dataclass(frozen=True)
class FitPlan:
    """Where a picture's pixels go: ``crop`` (x, y, w, h) of the oriented source is resized to
    ``scaled`` (w, h) and placed at ``offset`` (x, y) of a black ``size`` (w, h) picture."""

    crop: tuple[int, int, int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    size: tuple[int, int]


def plan_fit(src_width: int, src_height: int, width: int, height: int, fit: str = DEFAULT_FIT,
             pixel_aspect=1) -> FitPlan:
    """The geometry of fitting a ``src_width`` x ``src_height`` picture (already oriented, pixels
    ``pixel_aspect`` wide per unit of height) into ``width`` x ``height`` square pixels."""
    check_fit(fit, CONFORM_FIT_MODES)
    for name, (w, h) in (("source size", (src_width, src_height)), ("size", (width, height))):
        if w < 1 or h < 1:
            raise PlanError(f"{name} {w}x{h} is not a picture size: both sides must be at least 1 pixel")
    pa = Fraction(pixel_aspect)
    full = (0, 0, src_width, src_height)
    if fit == "stretch":
        return FitPlan(full, (width, height), (0, 0), (width, height))
    shown_w = src_width * pa  # displayed width in units of a source row
    if fit == "pad":
        scale = min(Fraction(width) / shown_w, Fraction(height, src_height))
        sw = min(width, max(1, round(shown_w * scale)))
        sh = min(height, max(1, round(src_height * scale)))
        return FitPlan(full, (sw, sh), ((width - sw) // 2, (height - sh) // 2), (width, height))
    if shown_w * height > src_height * width:  # too wide: cut the sides
        w = max(1, min(src_width, round(src_height * Fraction(width, height) / pa)))
        return FitPlan(((src_width - w) // 2, 0, w, src_height), (width, height), (0, 0), (width, height))
    h = max(1, min(src_height, round(shown_w * Fraction(height, width))))
    return FitPlan((0, (src_height - h) // 2, src_width, h), (width, height), (0, 0), (width, height))


def orient(frames: torch.Tensor, orientation: Orientation | None) -> torch.Tensor:
    """[T,H,W,C] stored pixels as displayed: transpose (a view), then flips (a copy)."""
    if orientation is None or orientation.identity:
        return frames
    if orientation.transpose:
        frames = frames.transpose(1, 2)
    dims = [d for d, on in ((2, orientation.flip_h), (1, orientation.flip_v)) if on]
    return frames.flip(dims) if dims else frames


def _as_float(images: torch.Tensor) -> torch.Tensor:
    """float32 in 0..1 (uint8 images are scaled)."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


def _resize_chunk(chunk: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """[T,H,W,3] -> [T,height,width,3] float32; bilinear, antialiased when shrinking."""
    nchw = _as_float(chunk).permute(0, 3, 1, 2)
    shrinking = height < chunk.shape[1] or width < chunk.shape[2]
    out = F.interpolate(nchw, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking)
    return out.clamp_(0.0, 1.0).permute(0, 2, 3, 1)


def conform_frames(frames: torch.Tensor, width: int, height: int, fit: str = DEFAULT_FIT, *,
                   orientation: Orientation | None = None, pixel_aspect=1) -> torch.Tensor:
    """Bring [T,H,W,3] frames (stored pixels) to ``width`` x ``height``: orient, then fit.

    Returns ``frames`` itself when nothing changes, else float32 in 0..1 (uint8 is scaled).
    Used for footage, keyframes, and for generated frames going from the working size to the
    output size.
    """
    check_fit(fit, CONFORM_FIT_MODES)
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise PlanError(f"frames of shape {tuple(frames.shape)} are not an IMAGE batch: "
                        f"expected [frames, height, width, 3]")
    if width < 1 or height < 1:
        raise PlanError(f"size {width}x{height} is not a picture size: both sides must be at least 1 pixel")
    oriented = orient(frames, orientation)
    pa = Fraction(pixel_aspect)
    if orientation is not None and orientation.transpose:
        pa = 1 / pa
    count, src_h, src_w = oriented.shape[:3]
    plan = plan_fit(src_w, src_h, width, height, fit, pa)
    x0, y0, w, h = plan.crop
    cropped = oriented[:, y0:y0 + h, x0:x0 + w]
    if plan.scaled == (w, h) == plan.size:
        if cropped.shape == frames.shape and oriented is frames:
            return frames
        return _as_float(cropped).contiguous()
    padded = plan.scaled != plan.size
    out = (torch.zeros if padded else torch.empty)((count, height, width, 3), dtype=torch.float32,
                                                   device=frames.device)
    (sw, sh), (ox, oy) = plan.scaled, plan.offset
    target = out[:, oy:oy + sh, ox:ox + sw]
    for start in range(0, count, _CHUNK):
        piece = cropped[start:start + _CHUNK]
        target[start:start + _CHUNK] = _as_float(piece) if (w, h) == (sw, sh) else _resize_chunk(piece, sw, sh)
    return out


def conform_video(path, width: int, height: int, *, fps=None, fit: str = DEFAULT_FIT, start: int = 0,
                  end: int | None = None, count: int | None = None, chunk: int = _CHUNK) -> Iterator[torch.Tensor]:
    """A video file, conformed: float32 chunks [<=chunk, height, width, 3] of output frames
    [start, end) at ``fps`` (default: the file's rate), oriented and fitted.

    ``count`` fixes the conformed length (default ``retime.conformed_frame_count``); the
    frames follow ``retime.conform_frame_map``. Memory: one source chunk plus one output chunk.
    """
    if chunk < 1:
        raise PlanError(f"chunk={chunk} is not a chunk size: use 1 or more frames")
    info = probe(path)
    frame_map = conform_frame_map(path, fps, count)
    end = len(frame_map) if end is None else end
    if not 0 <= start <= end <= len(frame_map):
        raise PlanError(f"frame range [{start}, {end}) of {str(path)!r} is outside its {len(frame_map)} conformed "
                        f"frames: use 0 <= start <= end <= {len(frame_map)}")
    if start == end:
        return
    wanted = frame_map[start:end]
    total, done, filled = len(wanted), 0, 0
    out = torch.empty((min(chunk, total), height, width, 3), dtype=torch.float32)
    for frame in _conformed_frames(path, info, wanted, width, height, fit):
        out[filled] = frame
        filled += 1
        done += 1
        if filled == out.shape[0]:
            yield out
            filled = 0
            if done < total:
                out = torch.empty((min(chunk, total - done), height, width, 3), dtype=torch.float32)
    if done < total:
        raise PlanError(f"video {str(path)!r} ended before its frame {wanted[done]}: the file is damaged; re-export it")


def _conformed_frames(path, info, wanted: list[int], width: int, height: int, fit: str) -> Iterator[torch.Tensor]:
    """One conformed [H,W,3] frame per entry of ``wanted`` (sorted source indices, may repeat);
    a repeated source frame is conformed once and yielded again."""

    first = 0 if info.variable_rate else wanted[0]  # video_read seeks by a constant rate only
    source_chunk = max(1, min(_CHUNK, _SOURCE_BYTES // (info.stored_width * info.stored_height * 12)))
    k, offset = 0, first
    for frames in iter_frames(path, first, wanted[-1] + 1, chunk=source_chunk):
        stop = offset + int(frames.shape[0])
        while k < len(wanted) and wanted[k] < stop:
            frame = conform_frames(frames[wanted[k] - offset][None], width, height, fit,
                                   orientation=info.orientation, pixel_aspect=info.pixel_aspect)[0]
            index = wanted[k]
            while k < len(wanted) and wanted[k] == index:
                yield frame
                k += 1
        offset = stop


# --------------------------------------------------------------------------------------------
# Keyframe images


def _as_image_list(images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        images = [images]
    result = []
    for i, image in enumerate(images):
        if not isinstance(image, torch.Tensor):
            image = torch.as_tensor(np.asarray(image))
        image = _as_float(image)
        if image.dim() == 3:
            image = image[None]
        if image.dim() != 4 or image.shape[-1] != 3:
            raise PlanError(f"keyframe image {i} has shape {tuple(image.shape)}: expected [height, width, 3] "
                            f"or [n, height, width, 3] RGB")
        result.extend(image.unbind(0))
    if not result:
        raise PlanError("no keyframe images were given: give at least one image")
    return result


def conform_keyframes(images: Sequence[torch.Tensor] | torch.Tensor, size: tuple[int, int] | None = None,
                      fit: str = DEFAULT_FIT) -> torch.Tensor:
    """Keyframe images of any sizes -> one [N,h,w,3] batch at a Wan size.

    ``images``: a batch, or a list of [H,W,3] / [n,H,W,3] tensors (all their frames are used;
    ``load_image`` has already turned them upright). The target is ``size`` (width, height)
    brought to a Wan size, else the generation size for the first image (``sizes.generation_size``:
    its own size snapped to 16, 1280x718 -> 1280x720, unless it is bigger than Wan's working area).
    """
    check_fit(fit, CONFORM_FIT_MODES)
    frames = _as_image_list(images)
    if size is None:
        width, height = generation_size(frames[0].shape[1], frames[0].shape[0])
    else:
        width, height = wan_size(int(size[0]), int(size[1]))
    out = torch.empty((len(frames), height, width, 3), dtype=torch.float32, device=frames[0].device)
    for i, image in enumerate(frames):
        out[i] = conform_frames(image[None], width, height, fit)[0]
    return out


def load_image(path) -> torch.Tensor:
    """An image file as float32 [H,W,3] RGB in 0..1, upright (grey, alpha, 16-bit and float too).

    EXIF orientation is applied (OpenCV's decoder does it for these flags: a phone's portrait
    photo comes out portrait); alpha is dropped (the colour channels are kept as stored).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: it cannot open every path
    except OSError as exc:
        raise PlanError(f"image {str(path)!r} cannot be read ({exc.strerror or exc}): check the path") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if image is None:
        raise PlanError(f"image {str(path)!r} is not a readable image: give a PNG, JPEG, WebP, TIFF or similar file")
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if rgb.dtype == np.uint8:
        out = rgb.astype(np.float32) / np.float32(255)
    elif rgb.dtype == np.uint16:
        out = rgb.astype(np.float32) / np.float32(65535)
    else:
        out = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    return torch.from_numpy(out)
