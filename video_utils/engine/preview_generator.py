"""CPU stand-in for the Wan VACE sampler: fills a guide's generate frames by morphing.

It reads the same ``(control_video, control_masks)`` a ``WanVaceToVideo`` node would, returns
every kept frame bit-identical and fills each run of generate frames from the nearest kept
frames around it.  That makes a whole travel or join previewable (timing, cuts, blends) in
seconds without a GPU, gives the tests a deterministic generator, and drives the demo.

* ``flow``: OpenCV Farneback optical flow between the two kept frames, both ways, computed ONCE
  per run at reduced resolution; each in-between frame warps both ends toward its time and
  cross-dissolves them (a cheap frame interpolation).
* ``blend``: plain cross-dissolve.

A run with a kept frame on one side only holds that frame.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch

from ..core.constants import DEFAULT_PREVIEW_METHOD, PREVIEW_METHODS as METHODS
from ..core.errors import PlanError
from .guides import kept_frames

FLOW_MAX_SIDE = 320   # flow resolution cap: ample for a preview, ~7x fewer pixels than 832x480


def preview_generate(
    control_video: torch.Tensor,
    control_masks: torch.Tensor,
    method: str = DEFAULT_PREVIEW_METHOD,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Frames [G,H,W,3] float32: kept frames (mean mask < 0.5) as given, the rest morphed."""
    if method not in METHODS:
        raise PlanError(f"method={method!r} is not a preview method: use one of {', '.join(METHODS)}")
    if control_video.dim() != 4 or control_video.shape[-1] != 3:
        raise PlanError(f"control_video must be IMAGE frames [G,H,W,3], got {tuple(control_video.shape)}")
    if control_masks.dim() != 3 or control_masks.shape != control_video.shape[:3]:
        raise PlanError(
            f"control_masks {tuple(control_masks.shape)} does not match control_video "
            f"{tuple(control_video.shape)}: pass the [G,H,W] mask built with the guide"
        )
    kept = kept_frames(control_masks).tolist()
    if not any(kept):
        raise PlanError("control_masks keeps no frame (every frame is generate): a preview needs at least one kept frame")
    device = control_video.device
    out = control_video.detach().to("cpu", torch.float32, copy=True)
    runs = _generate_runs(kept)
    total = sum(e - s for s, e in runs)
    done = 0

    def step(frames: int) -> None:
        nonlocal done
        done += frames
        if progress:
            progress(done, total)

    for start, end in runs:
        before = start - 1 if start > 0 else None
        after = end if end < len(kept) else None
        if before is None or after is None:
            out[start:end] = out[before if after is None else after]
            step(end - start)
        elif method == "blend":
            times = torch.arange(start - before, end - before, dtype=torch.float32) / (after - before)
            torch.lerp(out[before].expand_as(out[start:end]), out[after].expand_as(out[start:end]),
                       times.view(-1, 1, 1, 1), out=out[start:end])
            step(end - start)
        else:
            times = [(k - before) / (after - before) for k in range(start, end)]
            _flow_morph(out[before], out[after], times, out[start:end], step)
    return out.to(device)


def _generate_runs(kept: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, k in enumerate(kept + [True]):
        if not k and start is None:
            start = i
        elif k and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _flow_morph(a: torch.Tensor, b: torch.Tensor, times: list[float], out: torch.Tensor,
                step: Callable[[int], None]) -> None:
    """Warp both ends toward time t along the flow and cross-dissolve them.

    ``flow_ab(p)`` moves a pixel of A to where it is in B, so at time t the frame is roughly
    ``A(q - t*flow_ab(q))`` seen from A and ``B(q - (1-t)*flow_ba(q))`` seen from B.
    """
    h, w = a.shape[:2]
    pa, pb = a.numpy(), b.numpy()
    flow_ab, flow_ba = _flow(pa, pb), _flow(pb, pa)
    grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
    for k, t in enumerate(times):
        wa = cv2.remap(pa, grid - t * flow_ab, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        wb = cv2.remap(pb, grid - (1.0 - t) * flow_ba, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        torch.lerp(torch.from_numpy(wa), torch.from_numpy(wb), float(t), out=out[k]).clamp_(0.0, 1.0)
        step(1)


def _flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Dense flow src -> dst at full resolution (computed at most FLOW_MAX_SIDE wide/high)."""
    h, w = src.shape[:2]
    scale = min(1.0, FLOW_MAX_SIDE / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = [cv2.cvtColor(cv2.resize(np.ascontiguousarray(f), size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            for f in (src, dst)]
    grey = [cv2.convertScaleAbs(g, alpha=255.0) for g in grey]
    flow = cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 5, 21, 3, 5, 1.2, 0)
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= w / size[0]
    flow[..., 1] *= h / size[1]
    return flow
