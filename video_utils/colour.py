"""Colour matching in LAB: stops the colour shift where generated frames meet original ones.

Generated segments drift in brightness and tint against their neighbours. Moving the LAB mean
and spread of each channel to the reference's (Reinhard-style transfer) removes most of that
without touching structure. One transform is computed for the whole clip, not per frame, so the
correction cannot flicker.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .errors import PlanError

_CHUNK_PIXELS = 1 << 22  # convert about 4 Mpixel (48 MB of float32) at a time


def _as_rows(images: torch.Tensor) -> np.ndarray:
    """[T,H,W,3] or [H,W,3] -> contiguous float32 [rows, W, 3] RGB (one tall picture)."""
    array = images.detach().to("cpu", torch.float32).contiguous().numpy()
    return array.reshape(-1, array.shape[-2], 3)


def _lab_stats(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel LAB mean and standard deviation, chunked to bound memory."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    step = max(1, _CHUNK_PIXELS // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        lab = cv2.cvtColor(np.clip(rows[start:start + step], 0.0, 1.0), cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64)
        total += lab.sum(axis=0)
        total_sq += np.square(lab).sum(axis=0)
    n = rows.shape[0] * rows.shape[1]
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - np.square(mean), 0.0))
    return mean, std


def match_colour_lab(frames: torch.Tensor, reference: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """``frames`` with each LAB channel's mean/std moved to ``reference``'s; float32 0..1.

    frames / reference: [T,H,W,3] or [H,W,3] RGB in 0..1 (any sizes). ``strength`` blends from
    0 (unchanged) to 1 (full transfer). The result has the shape and device of ``frames``.
    """
    if not 0.0 <= strength <= 1.0:
        raise PlanError(f"colour match strength={strength} is outside 0..1: use 0 (off) to 1 (full)")
    for name, images in (("frames", frames), ("reference", reference)):
        if images.dim() not in (3, 4) or images.shape[-1] != 3 or images.numel() == 0:
            raise PlanError(f"colour match {name} of shape {tuple(images.shape)}: expected [frames, height, width, 3] RGB")
    if strength == 0.0:
        return frames.float()
    rows = _as_rows(frames)
    mean_f, std_f = _lab_stats(rows)
    mean_r, std_r = _lab_stats(_as_rows(reference))
    # lab' = lab * scale + shift, blended with the identity by strength
    scale = std_r / np.maximum(std_f, 1e-6)
    shift = mean_r - mean_f * scale
    scale = (1.0 - strength) + strength * scale
    shift = strength * shift
    scale32, shift32 = scale.astype(np.float32), shift.astype(np.float32)

    out = np.empty_like(rows)
    step = max(1, _CHUNK_PIXELS // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        lab = cv2.cvtColor(np.clip(rows[start:start + step], 0.0, 1.0), cv2.COLOR_RGB2Lab)
        lab *= scale32
        lab += shift32
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
        np.clip(rgb, 0.0, 1.0, out=out[start:start + step])
    return torch.from_numpy(out.reshape(frames.shape)).to(frames.device)
