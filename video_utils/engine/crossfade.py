"""The cross-fade kernel shared by the travel stitch and the join assembly.

Over an overlap of n frames the earlier video fades into the later one with weights alpha_k that
reach exactly 1 on the last frame, so that frame is the later video's own (in a travel it is the
keyframe).  The original sharpened the blend (a cross-dissolve of two slightly different frames
looks soft), more toward the end of the overlap; ``sharpen`` reproduces that, 0 turns it off.

The blend is one fused ``torch.lerp`` per frame (then the optional sharpening and the clip, while
the frame is still in cache), optionally straight into the caller's output slice, so stitching
costs little more than copying.  Frame by frame also keeps the in-memory and the streamed stitch
bit-identical by construction: both call ``blend_frame`` on the same single frames, so no result
can depend on how a stream happened to be chunked.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from ..core.constants import CURVES, DEFAULT_CURVE
from ..core.errors import PlanError
from ..core.step_settings import check_blend

SHARPEN_SIGMA = 3.0


def crossfade_weights(n: int, curve: str = DEFAULT_CURVE) -> torch.Tensor:
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


def frame_weights(n: int, curve: str = DEFAULT_CURVE, sharpen: float = 0.0) -> list[tuple[float, float]]:
    """``(alpha_k, sharpen amount_k)`` for each of the n frames of an overlap, as Python floats."""
    check_blend(curve, sharpen)
    alpha = crossfade_weights(n, curve)
    return list(zip(alpha.tolist(), (alpha * float(sharpen)).tolist()))


def blend_frame(a: torch.Tensor, b: torch.Tensor, alpha: float, amount: float, out: torch.Tensor) -> None:
    """One overlap frame: ``out = (1-alpha)*a + alpha*b``, sharpened by ``amount`` and then clipped.

    ``out`` is a contiguous float32 [H,W,3]; it may be ``a`` itself (blend in place).  Only a
    sharpened frame needs clipping: ``torch.lerp`` with alpha in 0..1 never leaves the range of
    its two inputs (its roundings included), so frames in 0..1 blend to 0..1, and out-of-range
    input stays as it is, like the frames outside the overlaps (a saved pass over the frame).
    """
    if a.dtype != torch.float32 or not a.is_contiguous():
        a = a.to(torch.float32).contiguous()
    if b.dtype != torch.float32 or not b.is_contiguous():
        b = b.to(torch.float32).contiguous()
    torch.lerp(a, b, alpha, out=out)
    if amount:
        _sharpen_(out, amount)
        out.clamp_(0.0, 1.0)


def _sharpen_(frame: torch.Tensor, amount: float) -> None:
    """In place: ``f + amount*(f - gaussian(f))`` for one [H,W,3] frame (one OpenCV blur)."""
    pixels = frame.cpu().numpy() if frame.device.type != "cpu" else frame.numpy()
    blur = cv2.GaussianBlur(pixels, (0, 0), SHARPEN_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    sharp = cv2.addWeighted(pixels, 1.0 + amount, blur, -amount, 0.0)
    frame.copy_(torch.from_numpy(np.ascontiguousarray(sharp)))
