"""Colour matching: stops the colour shift where generated frames meet original ones.

Generated segments drift in brightness and tint against their neighbours. Moving the mean and
spread of each channel to the reference's removes most of that without touching structure:
``lab`` (Reinhard-style transfer in CIE LAB, the default: brightness and tint separately) or
``rgb`` (per RGB channel, cheaper, can shift hues slightly). One transform is computed for the
whole clip, not per frame, so the correction cannot flicker.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..core.constants import DEFAULT_COLOUR_METHOD
from ..core.errors import PlanError

_CHUNK_PIXELS = 1 << 22  # convert about 4 Mpixel (48 MB of float32) at a time

# Rec. 601 luma weights (R, G, B), what the original's OpenCV greyscale conversion used: the
# one definition for desaturating guides (``guides``) and the saturation adjustment (``postprocess``).
LUMA = (0.299, 0.587, 0.114)


def _as_rows(images: torch.Tensor) -> np.ndarray:
    """[T,H,W,3] or [H,W,3] -> contiguous float32 [rows, W, 3] RGB (one tall picture)."""
    array = images.detach().to("cpu", torch.float32).contiguous().numpy()
    return array.reshape(-1, array.shape[-2], 3)


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def _from_lab(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


def _same(rgb: np.ndarray) -> np.ndarray:
    return rgb.copy()


_SPACES = {"lab": (_to_lab, _from_lab), "rgb": (_same, _same)}


def _stats(rows: np.ndarray, to_space) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation in a colour space, chunked to bound memory."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    step = max(1, _CHUNK_PIXELS // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        lab = to_space(np.clip(rows[start:start + step], 0.0, 1.0)).reshape(-1, 3).astype(np.float64)
        total += lab.sum(axis=0)
        total_sq += np.square(lab).sum(axis=0)
    n = rows.shape[0] * rows.shape[1]
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - np.square(mean), 0.0))
    return mean, std


def match_colour(frames: torch.Tensor, reference: torch.Tensor, strength: float = 1.0,
                 method: str = DEFAULT_COLOUR_METHOD) -> torch.Tensor:
    """``frames`` with each channel's mean/std (in ``method``'s space) moved to ``reference``'s; float32 0..1.

    frames / reference: [T,H,W,3] or [H,W,3] RGB in 0..1 (any sizes). ``strength`` blends from
    0 (unchanged) to 1 (full transfer). The result has the shape and device of ``frames``.
    """
    if not 0.0 <= strength <= 1.0:
        raise PlanError(f"colour match strength={strength} is outside 0..1: use 0 (off) to 1 (full)")
    for name, images in (("frames", frames), ("reference", reference)):
        if images.dim() not in (3, 4) or images.shape[-1] != 3 or images.numel() == 0:
            raise PlanError(f"colour match {name} of shape {tuple(images.shape)}: expected [frames, height, width, 3] RGB")
    if method not in _SPACES:
        raise PlanError(f"colour method={method!r} is not one of {', '.join(_SPACES)}")
    if strength == 0.0:
        return frames.float()
    to_space, from_space = _SPACES[method]
    rows = _as_rows(frames)
    mean_f, std_f = _stats(rows, to_space)
    mean_r, std_r = _stats(_as_rows(reference), to_space)
    # lab' = lab * scale + shift, blended with the identity by strength
    scale = std_r / np.maximum(std_f, 1e-6)
    shift = mean_r - mean_f * scale
    scale = (1.0 - strength) + strength * scale
    shift = strength * shift
    scale32, shift32 = scale.astype(np.float32), shift.astype(np.float32)

    out = np.empty_like(rows)
    step = max(1, _CHUNK_PIXELS // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        lab = to_space(np.clip(rows[start:start + step], 0.0, 1.0))
        lab *= scale32
        lab += shift32
        rgb = from_space(lab)
        np.clip(rgb, 0.0, 1.0, out=out[start:start + step])
    return torch.from_numpy(out.reshape(frames.shape)).to(frames.device)
