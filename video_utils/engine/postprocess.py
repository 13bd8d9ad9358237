"""What happens to a step's generated frames before they are saved, on every path.

1. The count is checked against the plan: a short generation would shift every later frame and
   ghost in the cross-fades, so it fails loudly with both numbers and what to check.
2. The lead-in / tail the plan generates but does not keep is trimmed.
3. Colour match (optional): one transform for the whole step toward the frames it continues
   (``previous``) or the first keyframe, so long chains do not drift in tint and brightness.
4. Saturation and brightness (optional), the original system's post-generation controls.
"""

from __future__ import annotations


import torch

from ..core.errors import PlanError
from ..core.step_settings import PostSettings
from .colour import LUMA, match_colour


def finish_frames(frames: torch.Tensor, step, post: PostSettings) -> torch.Tensor:
    """The frames of ``step`` (an ``engine.steps`` step) as they are saved."""
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[-1] not in (3, 4):
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise PlanError(f"{step.label}: the generator returned {shape}, not an IMAGE batch [frames, H, W, 3]")
    got = int(frames.shape[0])
    if got != step.length:
        raise PlanError(
            f"{step.label}: planned {step.length} frames but the generator returned {got}. Wan decodes 4n+1 frames: "
            f"keep the step's length in the encoder, wire TrimVideoLatent's trim_amount to the encoder's "
            f"trim_latent, and do not change the batch in between (a retry gives the same result)")
    kept = frames[step.trim_start: got - step.trim_end, ..., :3]
    reference = step.colour_reference(post.colour_match) if post.colour_match != "none" else None
    if reference is not None and post.colour_strength > 0:
        kept = match_colour(kept, reference, post.colour_strength, post.colour_method)
    return adjust_saturation_brightness(kept, post.saturation, post.brightness)


def adjust_saturation_brightness(frames: torch.Tensor, saturation: float = 1.0, brightness: float = 0.0) -> torch.Tensor:
    """``saturation`` scales the distance from grey (Rec. 601 luma; 1 = unchanged), then pixels
    are multiplied by ``1 + brightness`` (positive = brighter); clipped to 0..1."""
    if saturation == 1.0 and brightness == 0.0:
        return frames
    out = frames.to(torch.float32, copy=True)
    if saturation != 1.0:
        luma = (out * out.new_tensor(LUMA)).sum(dim=-1, keepdim=True)
        out.sub_(luma).mul_(saturation).add_(luma)
    if brightness:
        out.mul_(1.0 + brightness)
    return out.clamp_(0.0, 1.0)
