"""Pixel work for frame sizes: conform frames and keyframe images to a Wan size, load images.

The size policy (which size, which fit modes) lives in ``sizes.py``; this module only moves
pixels. Resizing runs in chunks of frames into one preallocated output, so conforming a long
clip costs the output plus one chunk of memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .errors import PlanError
from .sizes import DEFAULT_FIT, check_fit, wan_size

_CHUNK = 16


def _as_float(images: torch.Tensor) -> torch.Tensor:
    """float32 in 0..1 (uint8 images are scaled)."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


def _crop_box(width: int, height: int, target_w: int, target_h: int) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of the centred region of a width x height picture with the target's aspect."""
    if width * target_h > height * target_w:  # too wide: cut the sides
        w = max(1, min(width, round(height * target_w / target_h)))
        return (width - w) // 2, 0, w, height
    h = max(1, min(height, round(width * target_h / target_w)))
    return 0, (height - h) // 2, width, h


def _resize_chunk(chunk: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """[T,H,W,3] -> [T,height,width,3] float32; bilinear, antialiased when shrinking."""
    nchw = _as_float(chunk).permute(0, 3, 1, 2)
    shrinking = height < chunk.shape[1] or width < chunk.shape[2]
    out = F.interpolate(nchw, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking)
    return out.clamp_(0.0, 1.0).permute(0, 2, 3, 1)


def conform_frames(frames: torch.Tensor, width: int, height: int, fit: str = DEFAULT_FIT) -> torch.Tensor:
    """Bring [T,H,W,3] frames to width x height.

    ``fit="crop"`` centre-crops to the target aspect, then resizes (no distortion);
    ``fit="stretch"`` resizes directly. Returns ``frames`` itself when it already has that size,
    else float32 in 0..1 (uint8 input is scaled).
    """
    check_fit(fit)
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise PlanError(f"frames of shape {tuple(frames.shape)} are not an IMAGE batch: expected [frames, height, width, 3]")
    if width < 1 or height < 1:
        raise PlanError(f"size {width}x{height} is not a picture size: both sides must be at least 1 pixel")
    count, src_h, src_w = frames.shape[:3]
    if (src_h, src_w) == (height, width):
        return frames
    if fit == "crop":
        x0, y0, w, h = _crop_box(src_w, src_h, width, height)
        frames = frames[:, y0:y0 + h, x0:x0 + w]
        if (h, w) == (height, width):
            return _as_float(frames).contiguous()
    out = torch.empty((count, height, width, 3), dtype=torch.float32, device=frames.device)
    for start in range(0, count, _CHUNK):
        out[start:start + _CHUNK] = _resize_chunk(frames[start:start + _CHUNK], width, height)
    return out


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
            raise PlanError(f"keyframe image {i} has shape {tuple(image.shape)}: expected [height, width, 3] or [n, height, width, 3] RGB")
        result.extend(image.unbind(0))
    if not result:
        raise PlanError("no keyframe images were given: give at least one image")
    return result


def conform_keyframes(images: Sequence[torch.Tensor] | torch.Tensor, size: tuple[int, int] | None = None,
                      fit: str = DEFAULT_FIT) -> torch.Tensor:
    """Keyframe images of any sizes -> one [N,h,w,3] batch at a Wan size.

    ``images``: a batch, or a list of [H,W,3] / [n,H,W,3] tensors (all their frames are used).
    The target is ``size`` (width, height) brought to a Wan size, else the first image's size
    brought to a Wan size (1280x718 -> 1280x720).
    """
    check_fit(fit)
    frames = _as_image_list(images)
    if size is None:
        size = (frames[0].shape[1], frames[0].shape[0])
    width, height = wan_size(int(size[0]), int(size[1]))
    out = torch.empty((len(frames), height, width, 3), dtype=torch.float32, device=frames[0].device)
    for i, image in enumerate(frames):
        out[i] = conform_frames(image[None], width, height, fit)[0]
    return out


def load_image(path) -> torch.Tensor:
    """An image file as float32 [H,W,3] RGB in 0..1 (grey, alpha, 16-bit and float images too).

    Alpha is dropped (the colour channels are kept as stored), EXIF orientation applied.
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
