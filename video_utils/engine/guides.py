"""Guide video + mask builders for core ``WanVaceToVideo``.

``WanVaceToVideo`` splits ``control_video - 0.5`` by the mask: mask 0 frames reach the model as
known pixels ("keep"), mask 1 frames as a control signal that must be exactly 0.5 grey to be
neutral ("generate").  It pads short inputs at the *end* (grey / mask 1) and center-crop-resizes
anything of the wrong size, so these builders always return the full ``generate_frames`` length
at the caller's size and refuse frames that are not already conformed to a multiple of 16.

Every builder returns ``(control_video [G,H,W,3] float32, control_masks [G,H,W] float32)``:
``travel_segment_guide`` (travel segments, one-image and loop-closing ones included),
``extend_segment_guide`` / ``continuation_guide`` (extending a clip), ``join_transition_guide``
(with ``join_contexts``; the generation timeline when the output rate differs).
Single-frame anchors are the trained VACE convention: never widen a keep region with grey frames
(grey + mask 0 tells the model to keep grey).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import PlanError
from ..core.extend_plan import ExtendPlan
from ..core.join_plan import JoinSpec
from ..core.lengths import WAN_SPATIAL_MULTIPLE, is_wan_length, round_half_up
from ..core.travel_plan import TravelPlan
from .colour import LUMA

GREY = 0.5


@dataclass(frozen=True)
class OverlapAdjust:
    """The original's overlap-frame adjustments, applied to chained context frames only, in order.

    ``strength`` weighs the real pixels against 0.5 grey (1 = unchanged, 0 = all grey): a weaker
    context lets the model drift away from the previous segment.  ``desaturate`` mixes toward
    greyscale and ``darken`` multiplies by ``1 - darken`` (positive = darker, negative = brighter);
    both counter the colour build-up that chaining causes.
    """

    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise PlanError(f"overlap strength={self.strength} must be between 0 (all grey) and 1 (unchanged)")
        if not 0.0 <= self.desaturate <= 1.0:
            raise PlanError(f"overlap desaturate={self.desaturate} must be between 0 (unchanged) and 1 (greyscale)")
        if not -1.0 <= self.darken <= 1.0:
            raise PlanError(f"overlap darken={self.darken} must be between -1 (twice as bright) and 1 (black)")

    @property
    def is_neutral(self) -> bool:
        return self.strength == 1.0 and self.desaturate == 0.0 and self.darken == 0.0

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        """Adjusted copy of ``frames`` [N,H,W,3] (the input is never modified), clipped to 0..1."""
        out = frames.to(torch.float32, copy=True)
        if self.is_neutral:
            return out
        if self.strength != 1.0:
            out.mul_(self.strength).add_((1.0 - self.strength) * GREY)
        if self.desaturate:
            luma = (out * out.new_tensor(LUMA)).sum(dim=-1, keepdim=True)
            out.lerp_(luma.expand_as(out), self.desaturate)
        if self.darken:
            out.mul_(1.0 - self.darken)
        return out.clamp_(0.0, 1.0)


def travel_segment_guide(
    plan: TravelPlan,
    index: int,
    keyframes: torch.Tensor,
    previous_output: torch.Tensor | None = None,
    adjust: OverlapAdjust | None = None,
    first_output: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Guide and mask of travel segment ``index`` of ``plan``.

    ``keyframes`` holds all N keyframes; segment i runs from keyframe i to keyframe i+1 (the
    original always used keyframe 0 as the start anchor of independent segments, its bug 6.3).
    Chained segments i >= 1 need ``previous_output`` (the previous segment's frames; its last
    ``context_frames`` become the kept context, with ``adjust`` applied to them only); segments
    without context frames (segment 0, independent mode) ignore it, so a caller may always pass it.
    A one-image travel's segment has no end anchor (its end is generated).  A loop's closing
    segment also needs ``first_output``, segment 0's saved frames (lead-in already trimmed): its
    first ``end_context_frames`` are kept, unadjusted, as the guide's last frames so the loop runs
    into frame 0 (with a single seam frame, keyframe 0 stands in when ``first_output`` is missing).
    """
    if not 0 <= index < len(plan.segments):
        raise PlanError(f"segment index={index} is out of range: the plan has segments 0..{len(plan.segments) - 1}")
    seg = plan.segments[index]
    keyframes = _frames("keyframes", keyframes)
    if keyframes.shape[0] != plan.keyframe_count:
        raise PlanError(
            f"keyframes has {keyframes.shape[0]} images but the plan has {len(plan.segments)} segments: "
            f"pass all {plan.keyframe_count} keyframes"
        )
    size = keyframes.shape[1:3]
    guide, mask = _blank(seg.generate_frames, size, keyframes.device)

    if seg.context_frames:
        if previous_output is None:
            raise PlanError(
                f"segment {index} is chained and needs previous_output (segment {index - 1}'s frames) "
                f"for its {seg.context_frames} context frames: connect the previous segment's output"
            )
        previous_output = _frames("previous_output", previous_output, size)
        if previous_output.shape[0] < seg.context_frames:
            raise PlanError(
                f"previous_output has {previous_output.shape[0]} frames but segment {index} needs its "
                f"last {seg.context_frames} as context: pass the whole previous segment"
            )
        context = previous_output[-seg.context_frames:]
        guide[: seg.context_frames] = (adjust or OverlapAdjust()).apply(context)
        mask[: seg.context_frames] = 0.0
    else:
        guide[seg.start_anchor_frame] = keyframes[index]
        mask[seg.start_anchor_frame] = 0.0
    end_keyframe = index + 1 if seg.end_keyframe is None else seg.end_keyframe
    if seg.end_context_frames:
        n = seg.end_context_frames
        if first_output is None and n == 1:
            head = keyframes[end_keyframe][None]
        elif first_output is None:
            raise PlanError(
                f"segment {index} closes the loop and needs first_output (segment 0's saved frames) for its "
                f"{n} seam frames: connect segment 0's output"
            )
        else:
            head = _frames("first_output", first_output, size)[:n]
            if head.shape[0] < n:
                raise PlanError(
                    f"first_output has {head.shape[0]} frames but segment {index} needs the first {n} of "
                    f"segment 0: pass segment 0's whole saved output"
                )
        guide[seg.generate_frames - n:] = head
        mask[seg.generate_frames - n:] = 0.0
    elif seg.end_anchor_frame is not None:
        guide[seg.end_anchor_frame] = keyframes[end_keyframe]
        mask[seg.end_anchor_frame] = 0.0
    return guide, mask


def continuation_guide(
    previous_video_tail: torch.Tensor,
    end_keyframe: torch.Tensor | None,
    length: int,
    adjust: OverlapAdjust | None = None,
    end_frame: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Continue an existing video: all of ``previous_video_tail`` kept at the start, an optional
    ``end_keyframe`` ([H,W,3] or [1,H,W,3]) kept at guide frame ``end_frame`` (default the last;
    frames after it are generated and meant to be dropped), the rest generated."""
    if not is_wan_length(length):
        raise PlanError(f"length={length} is not a Wan length (4n+1): use 81, 85, 89 ...")
    tail = _frames("previous_video_tail", previous_video_tail)
    size = tail.shape[1:3]
    kept_end = 0
    if end_keyframe is not None:
        end = _frames("end_keyframe", end_keyframe if end_keyframe.dim() == 4 else end_keyframe[None], size)
        if end.shape[0] != 1:
            raise PlanError(f"end_keyframe has {end.shape[0]} images: pass exactly one")
        kept_end = 1
    if tail.shape[0] + kept_end >= length:
        raise PlanError(
            f"previous_video_tail has {tail.shape[0]} frames, which leaves nothing to generate in "
            f"length={length}: pass fewer tail frames or raise length"
        )
    at = length - 1 if end_frame is None else end_frame
    if kept_end and not tail.shape[0] <= at < length:
        raise PlanError(
            f"end_frame={end_frame} must lie after the {tail.shape[0]} tail frames and inside length={length}"
        )
    guide, mask = _blank(length, size, tail.device)
    guide[: tail.shape[0]] = (adjust or OverlapAdjust()).apply(tail)
    mask[: tail.shape[0]] = 0.0
    if kept_end:
        guide[at] = end[0]
        mask[at] = 0.0
    return guide, mask


def extend_segment_guide(
    plan: ExtendPlan,
    index: int,
    video_tail: torch.Tensor,
    keyframes: torch.Tensor | None = None,
    adjust: OverlapAdjust | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Guide and mask of extension segment ``index``: the video's last ``context_frames`` frames
    before the segment (``video_tail``: the clip for segment 0, the extended video so far after
    that; only its last ``context_frames`` are read) kept, the leg's keyframe (from ``keyframes``,
    all of the plan's ``--to`` images) kept at ``end_anchor_frame`` when the segment ends a leg."""
    if not 0 <= index < len(plan.segments):
        raise PlanError(f"segment index={index} is out of range: the plan has segments 0..{len(plan.segments) - 1}")
    seg = plan.segments[index]
    tail = _frames("video_tail", video_tail)
    if tail.shape[0] < seg.context_frames:
        raise PlanError(
            f"video_tail has {tail.shape[0]} frames but extension segment {index} needs the last "
            f"{seg.context_frames} before frame {seg.start_frame} (at the generation rate): pass the video so far"
        )
    end = None
    if seg.end_keyframe is not None:
        if keyframes is None:
            raise PlanError(f"extension segment {index} ends on keyframe {seg.end_keyframe}: pass the keyframes")
        keyframes = _frames("keyframes", keyframes, tail.shape[1:3])
        if keyframes.shape[0] != len(plan.keyframe_frames):
            raise PlanError(
                f"keyframes has {keyframes.shape[0]} images but the extension lands on {len(plan.keyframe_frames)}: "
                f"pass all of them"
            )
        end = keyframes[seg.end_keyframe]
    return continuation_guide(tail[tail.shape[0] - seg.context_frames:], end, seg.generate_frames, adjust,
                              end_frame=seg.end_anchor_frame)


def join_contexts(spec: JoinSpec, clip_a: torch.Tensor, clip_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Join ``spec``'s guide context frames, taken from the full clips A and B (output rate).

    Insert mode takes A's last and B's first frames; replace mode the frames right outside the
    region it removes.  The plan already says where; this checks the clips are long enough.  At
    equal rates the contexts are plain slices; otherwise each of the ``context_gen_a/b`` guide
    frames is the clip frame nearest its exact source position (never a blend: a kept ghost would
    be reproduced by the model).  For a loop's last join, clip_b is clip 0.
    """
    for name, clip, start, count, trimmed in (
        ("clip_a", clip_a, spec.context_a_start, spec.context_frames_a, spec.trim_from_a),
        ("clip_b", clip_b, spec.context_b_start, spec.context_frames_b, 0),
    ):
        need = start + count + trimmed
        if not isinstance(clip, torch.Tensor) or clip.dim() != 4 or clip.shape[0] < need:
            have = clip.shape[0] if isinstance(clip, torch.Tensor) and clip.dim() == 4 else "a non-IMAGE input, not"
            raise PlanError(
                f"{name} of join {spec.index} has {have} frames but the plan reads its frames "
                f"{start}..{start + count - 1} (and removes {trimmed} after them): pass the whole clip the plan was made for"
            )
    if spec.generation_frames == spec.transition_frames:
        a = clip_a[spec.context_a_start: spec.context_a_start + spec.context_frames_a]
        b = clip_b[spec.context_b_start: spec.context_b_start + spec.context_frames_b]
        return a, b
    return _nearest(clip_a, spec.context_a_sources()), _nearest(clip_b, spec.context_b_sources())


def _nearest(clip: torch.Tensor, positions) -> torch.Tensor:
    index = torch.tensor([round_half_up(p) for p in positions], dtype=torch.long, device=clip.device)
    return clip.index_select(0, index)


def join_transition_guide(
    spec: JoinSpec,
    context_a: torch.Tensor,
    context_b: torch.Tensor,
    bridging: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[context_a | gap grey | context_b]`` with mask ``0 | 1 | 0`` (insert and replace alike),
    ``generation_frames`` long (the generation timeline: equal to ``transition_frames`` at equal rates).

    ``bridging`` (gap >= 3) also keeps A-context's last frame at gap index ``gap//3`` and
    B-context's first frame at ``2*gap//3``: a long gap otherwise tends to wander off.
    """
    a = _frames("context_a", context_a)
    b = _frames("context_b", context_b, a.shape[1:3])
    ca, cb, gap = spec.context_gen_a, spec.context_gen_b, spec.gap_gen_frames
    for name, frames, want in (("context_a", a, ca), ("context_b", b, cb)):
        if frames.shape[0] != want:
            raise PlanError(
                f"{name} of join {spec.index} has {frames.shape[0]} frames but the plan uses {want}: "
                f"slice the clips with join_contexts"
            )
    if ca + gap + cb != spec.generation_frames:
        raise PlanError(f"join {spec.index} is inconsistent: {ca} + {gap} + {cb} != {spec.generation_frames} frames")
    guide, mask = _blank(spec.generation_frames, a.shape[1:3], a.device)
    guide[:ca] = a
    mask[:ca] = 0.0
    guide[ca + gap:] = b
    mask[ca + gap:] = 0.0
    if bridging and gap >= 3:
        for gap_index, frame in ((gap // 3, a[-1]), ((2 * gap) // 3, b[0])):
            guide[ca + gap_index] = frame
            mask[ca + gap_index] = 0.0
    return guide, mask


def kept_frames(mask: torch.Tensor) -> torch.Tensor:
    """Bool [G]: frames whose mean mask is below 0.5 (what the model mostly keeps)."""
    return mask.reshape(mask.shape[0], -1).to(torch.float32).mean(dim=1) < 0.5


def _blank(length: int, size, device) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = int(size[0]), int(size[1])
    return (
        torch.full((length, h, w, 3), GREY, dtype=torch.float32, device=device),
        torch.ones((length, h, w), dtype=torch.float32, device=device),
    )


def _frames(name: str, frames: torch.Tensor, size=None) -> torch.Tensor:
    """``frames`` as float32 [N,H,W,3] of a multiple-of-16 size (equal to ``size`` if given)."""
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[-1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise PlanError(f"{name} must be an IMAGE batch [frames, H, W, 3], got {shape}")
    h, w = frames.shape[1], frames.shape[2]
    if size is not None and (h, w) != (int(size[0]), int(size[1])):
        raise PlanError(
            f"{name} is {w}x{h} but the other frames are {int(size[1])}x{int(size[0])}: "
            f"resize every input to the generation size first"
        )
    if h % WAN_SPATIAL_MULTIPLE or w % WAN_SPATIAL_MULTIPLE:
        raise PlanError(
            f"{name} is {w}x{h}, not a multiple of {WAN_SPATIAL_MULTIPLE}: conform it to the generation "
            f"size (e.g. 832x480) before building the guide"
        )
    return frames.to(torch.float32)
