"""The cross-fade kernel shared by the travel stitch and the join assembly.

Over an overlap of n frames the earlier video fades into the later one with weights alpha_k that
reach exactly 1 on the last frame, so that frame is the later video's own (in a travel it is the
keyframe).  The original sharpened the blend (a cross-dissolve of two slightly different frames
looks soft), more toward the end of the overlap; ``sharpen`` reproduces that, 0 turns it off.

The blend is one fused ``torch.lerp`` per overlap, optionally straight into the caller's output
slice, so stitching costs little more than copying.  In-memory and streamed stitches call this
with the same whole-overlap tensors, which keeps their results bit-identical.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .errors import PlanError

CURVES = ("cosine", "linear")
SHARPEN_SIGMA = 3.0


def crossfade_weights(n: int, curve: str = "cosine") -> torch.Tensor:
    """float32 [n] weights of the later video: cosine ``(1 - cos(pi*(k+1)/n))/2``, linear ``(k+1)/n``."""
    if curve not in CURVES:
        raise PlanError(f"curve={curve!r} is not a cross-fade curve: use one of {', '.join(CURVES)}")
    if n < 0:
        raise PlanError(f"cross-fade length {n} is negative")
    t = torch.arange(1, n + 1, dtype=torch.float64) / max(n, 1)
    if curve == "cosine":
        t = (1.0 - torch.cos(math.pi * t)) / 2.0
    w = t.to(torch.float32)
    if n:
        w[-1] = 1.0  # exact, whatever cos(pi) rounds to
    return w


def crossfade(
    a_tail: torch.Tensor,
    b_head: torch.Tensor,
    curve: str = "cosine",
    sharpen: float = 0.0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Blend ``(1-alpha)*a_tail + alpha*b_head`` frame by frame ([n,H,W,3] each), clipped to 0..1.

    ``sharpen`` > 0 adds an unsharp mask (Gaussian sigma 3) of strength ``sharpen*alpha_k``.
    ``out`` (same shape, float32, contiguous) receives the result in place, e.g. a slice of a
    preallocated stitch output.
    """
    if a_tail.shape != b_head.shape or a_tail.dim() != 4 or a_tail.shape[-1] != 3:
        raise PlanError(
            f"cross-fade needs two equal [n,H,W,3] frame stacks, got {tuple(a_tail.shape)} and "
            f"{tuple(b_head.shape)}: give both videos the same size and overlap"
        )
    if sharpen < 0:
        raise PlanError(f"sharpen={sharpen} must be 0 or more (the original used 0.3)")
    n = a_tail.shape[0]
    if out is None:
        out = torch.empty(a_tail.shape, dtype=torch.float32, device=a_tail.device)
    elif out.shape != a_tail.shape or out.dtype != torch.float32 or not out.is_contiguous():
        raise PlanError(
            f"cross-fade output has shape {tuple(out.shape)} {out.dtype}, needs a contiguous "
            f"{tuple(a_tail.shape)} float32 tensor"
        )
    if n == 0:
        return out
    alpha = crossfade_weights(n, curve).to(a_tail.device)
    torch.lerp(a_tail.to(torch.float32), b_head.to(torch.float32), alpha.view(n, 1, 1, 1), out=out)
    if sharpen:
        _sharpen_(out, alpha * float(sharpen))
    return out.clamp_(0.0, 1.0)


def _sharpen_(frames: torch.Tensor, amounts: torch.Tensor) -> None:
    """In place: ``f + amount*(f - gaussian(f))`` per frame (one OpenCV blur per frame)."""
    for k, amount in enumerate(amounts.tolist()):
        if amount == 0.0:
            continue
        frame = frames[k]
        pixels = frame.cpu().numpy() if frame.device.type != "cpu" else frame.numpy()
        blur = cv2.GaussianBlur(pixels, (0, 0), SHARPEN_SIGMA, borderType=cv2.BORDER_REFLECT_101)
        sharp = cv2.addWeighted(pixels, 1.0 + amount, blur, -amount, 0.0)
        frame.copy_(torch.from_numpy(np.ascontiguousarray(sharp)))
