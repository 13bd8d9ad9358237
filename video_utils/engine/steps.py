"""One segment or transition to generate (a *step*), with its guide built only when needed.

A step is what ``SegueTravelStep`` / ``SegueJoinStep`` hand down a chain (the STEP value), what
the orchestrator's per-step prompts carry and what the local renderer loops over: the plan entry,
the size and length to generate, and *where* the kept frames come from (the keyframes, the
previous segment's file, the clips' files) — never the frames themselves.  The guide (control
video + mask) is built by the node that consumes it (the VACE / first-last encoders, the preview
generator) and dropped when it returns, so no full-size guide is ever kept as a node output.

Every path builds its guides, post-processing and frame counts from these objects, so the same
settings give the same frames in the UI, through a server and locally.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Sequence

import torch

from ..core.constants import DEFAULT_FIT, GENERATION_FPS
from ..core.errors import PlanError
from ..core.extend_plan import ROUND_TRIP_FIT, ExtendPlan
from ..core.join_plan import JoinPlan
from ..core.lengths import check_step_memory, item_index
from ..core.output_format import extend_format
from ..core.probe import probe
from ..core.step_settings import ExtendStepSettings, JoinStepSettings, TravelStepSettings
from ..core.travel_plan import TravelPlan
from .conform import conform_frames, conform_video
from .extend_assembly import check_clip, conformed_clip
from .guides import (OverlapAdjust, extend_segment_guide, join_contexts, join_transition_guide, kept_frames,
                     travel_segment_guide)
from .video_read import read_frames, read_last_frames


class _PlanSegment:
    """What a travel or an extension step reads off segment ``index`` of its plan."""

    what: str   # "travel" or "extension", set by each step class

    @property
    def segment(self):
        return self.plan.segments[self.index]

    @property
    def length(self) -> int:
        """Frames the generator makes (4n+1)."""
        return int(self.segment.generate_frames)

    @property
    def trim_end(self) -> int:
        return int(self.segment.trim_end)

    @property
    def label(self) -> str:
        return f"{self.what} segment {self.index}"


@dataclass(eq=False)
class TravelStep(_PlanSegment):
    """Travel segment ``index`` of ``plan``: keyframes i -> i+1, continuing ``previous_path``'s
    last ``context_frames`` frames when chained."""

    plan: TravelPlan
    index: int
    keyframes: torch.Tensor               # [N,H,W,3], all of them (a node output anyway)
    previous_path: str | None = None
    adjust: OverlapAdjust = field(default_factory=OverlapAdjust)
    fps: Fraction = GENERATION_FPS
    first_path: str | None = None         # a loop's closing segment: segment 0's saved file
    kind = "travel"
    what = "travel"

    def __post_init__(self) -> None:
        item_index(self.index, len(self.plan.segments), "segment_index",
                   f"{self.keyframes.shape[0]} keyframes make segments")
        check_step_memory(self.width, self.height, self.length, self.label, generated=False)
        seg = self.segment
        if seg.context_frames and self.previous_path is None:
            raise PlanError(f"segment {self.index} is chained and continues the previous segment's last "
                            f"{seg.context_frames} frames: connect previous_video (the previous segment's video)")
        if not seg.context_frames and self.previous_path is not None:
            raise PlanError(f"previous_video was given for segment {self.index}, which continues nothing "
                            f"(mode {self.plan.mode}{', first segment' if self.index == 0 else ''}): disconnect it")
        if self.previous_path is not None:
            have = probe(self.previous_path).frame_count
            if have < seg.context_frames:
                raise PlanError(f"previous_video has {have} frames but segment {self.index} needs its last "
                                f"{seg.context_frames}: connect the whole previous segment")
        if seg.end_context_frames and self.first_path is None:
            raise PlanError(f"segment {self.index} closes the loop and runs into segment 0's first "
                            f"{seg.end_context_frames} frames: connect first_video (segment 0's video)")
        if self.first_path is not None and not seg.end_context_frames:
            raise PlanError(f"first_video was given for segment {self.index}, which does not close a loop: disconnect it")

    @property
    def width(self) -> int:
        return int(self.keyframes.shape[2])

    @property
    def height(self) -> int:
        return int(self.keyframes.shape[1])

    @property
    def trim_start(self) -> int:
        return int(self.segment.trim_start)

    def _first(self) -> torch.Tensor | None:
        if self.first_path is None:
            return None
        return read_frames(self.first_path, 0, self.segment.end_context_frames)

    def _context(self) -> torch.Tensor | None:
        if self.previous_path is None:
            return None
        return read_last_frames(self.previous_path, self.segment.context_frames)

    def guide(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(control_video [G,H,W,3], control_masks [G,H,W]) at the generation size."""
        return travel_segment_guide(self.plan, self.index, self.keyframes[..., :3], self._context(), self.adjust,
                                    self._first())

    def colour_reference(self, mode: str) -> torch.Tensor | None:
        """Frames whose colours the generated ones should keep: the frames this segment continues
        (chained; the start keyframe otherwise), or the first keyframe."""
        if mode == "first_keyframe":
            return self.keyframes[:1, ..., :3]
        if mode == "previous":
            context = self._context()
            return context if context is not None else self.keyframes[self.index:self.index + 1, ..., :3]
        return None


@dataclass(eq=False)
class JoinStep:
    """The transition of join ``index`` of ``plan`` between the clip files ``clips[index]`` and
    ``clips[index + 1]``, generated at ``width`` x ``height``."""

    plan: JoinPlan
    index: int
    clips: Sequence[str]
    width: int
    height: int
    fit: str = DEFAULT_FIT
    bridging: bool = False
    fps: Fraction = GENERATION_FPS
    kind = "join"

    def __post_init__(self) -> None:
        item_index(self.index, len(self.plan.joins), "join_index", f"{len(self.clips)} clips make joins")
        check_step_memory(self.width, self.height, self.length, self.label, generated=False)

    @property
    def spec(self):
        return self.plan.joins[self.index]

    @property
    def length(self) -> int:
        """Frames the generator makes (4n+1, at the generation rate)."""
        return int(self.spec.generation_frames)

    trim_start = 0
    trim_end = 0

    @property
    def label(self) -> str:
        return f"join {self.index} transition"

    def contexts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A's and B's planned context windows through the conform stage (orientation, fit, the
        output rate the plan counts in) at the generation size; ``join_contexts`` then picks the
        guide's frames at the generation rate."""
        spec = self.spec

        def window(clip: int, start: int, end: int) -> torch.Tensor:
            return torch.cat(list(conform_video(self.clips[clip], self.width, self.height, fps=self.plan.output_fps,
                                                fit=self.fit, start=start, end=end)))

        a = window(spec.clip_a, spec.context_a_start, spec.context_a_start + spec.context_frames_a + spec.trim_from_a)
        b = window(spec.clip_b, 0, spec.context_b_start + spec.context_frames_b)
        return join_contexts(replace(spec, context_a_start=0), a, b)

    def guide(self) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.contexts()
        return join_transition_guide(self.spec, a, b, bridging=self.bridging)

    def colour_reference(self, mode: str) -> torch.Tensor | None:
        """Both clips' context frames (the transition sits between them)."""
        if mode == "none":
            return None
        a, b = self.contexts()
        return torch.cat([a, b]) if mode == "previous" else a[:1]


Step = TravelStep | JoinStep


def first_last_frames(step: Step) -> tuple[torch.Tensor, torch.Tensor]:
    """(start frames, end frames) for ``WanFirstLastFrameToVideo``: the guide's leading and
    trailing kept runs.  A kept frame anywhere else cannot be expressed by that node."""
    guide, mask = step.guide()
    kept = kept_frames(mask).tolist()
    lead = next((i for i, k in enumerate(kept) if not k), len(kept))
    tail = next((i for i, k in enumerate(reversed(kept)) if not k), len(kept))
    inner = [i for i in range(lead, len(kept) - tail) if kept[i]]
    if lead == 0 or tail == 0 or inner:
        raise PlanError(
            f"{step.label}: the first-last-frame generator keeps frames only at the start and the end, but this "
            f"step keeps frames {'inside the clip' if inner else 'elsewhere'} (e.g. an exact_keyframes lead-in, "
            f"independent mode or bridging): use chained mode without exact_keyframes, or the wan-vace generator")
    return guide[:lead], guide[len(kept) - tail:]


@dataclass(eq=False)
class ExtendStep(_PlanSegment):
    """Segment ``index`` of extending the clip file ``clip_path`` (``plan``): it continues the
    video so far (the clip, then each earlier segment's new frames) and, when it ends a leg,
    lands on that leg's keyframe.

    ``previous_paths``: the saved files of the segments right before this one, in order and
    ending with segment ``index - 1`` (all of them, or only the last ones when their new frames
    already cover the context).  A saved segment holds ``blend_frames + new_frames`` frames:
    its generated frames from ``context - blend`` (``trim_start``), what the video uses.
    The guide is built at the working size (``extend_assembly.extend_format``) and the generation
    rate; frames of the clip are those of the conformed clip (``extend_assembly.conformed_clip``:
    upright, at the output rate and size) nearest each generation position (``plan.clip_source``),
    scaled to it with ``ROUND_TRIP_FIT`` (the assembly scales the generated frames back the same
    way).  ``fps``: the generation rate the segment is made and saved at.
    """

    plan: ExtendPlan
    index: int
    clip_path: str
    previous_paths: Sequence[str] = ()
    keyframes: torch.Tensor | None = None  # [K,H,W,3], all the --to images (a node output anyway)
    adjust: OverlapAdjust = field(default_factory=OverlapAdjust)
    kind = "extend"
    what = "extension"

    def __post_init__(self) -> None:
        plan, n = self.plan, len(self.plan.segments)
        item_index(self.index, n, "segment_index", "this extension has segments")
        self.previous_paths = [str(p) for p in self.previous_paths]
        check_clip(self.clip_path, plan)
        fmt = extend_format(self.clip_path)
        self.fps = plan.generation_fps
        self.width, self.height = fmt.work_width, fmt.work_height
        check_step_memory(self.width, self.height, self.length, self.label, generated=False)
        given = len(self.previous_paths)
        if self.index == 0 and given:
            raise PlanError("previous videos were given for extension segment 0, which continues the clip itself: "
                            "disconnect them")
        if self.index and not given:
            raise PlanError(f"extension segment {self.index} continues segment {self.index - 1}: connect the earlier "
                            f"segments' files (previous_files from a Segue File List, or previous_video)")
        if given > self.index:
            raise PlanError(f"{given} previous videos were given but extension segment {self.index} has only "
                            f"{self.index} segments before it: connect segments 0..{self.index - 1} only")
        first = self.index - given
        for k, path in enumerate(self.previous_paths, start=first):
            have, want = probe(path).frame_count, self.saved_frames(k)
            if have != want:
                raise PlanError(f"previous video {path!r} has {have} frames but extension segment {k} saves {want}: "
                                f"connect segments {first}..{self.index - 1}'s files in order")
        end = self.segment.end_keyframe
        count = len(plan.keyframe_frames)
        if self.keyframes is not None and int(self.keyframes.shape[0]) != count:
            raise PlanError(f"keyframes has {int(self.keyframes.shape[0])} images but the extension was planned to "
                            f"land on {count}: pass all of them (and plan with their number)")
        if end is not None and self.keyframes is None:
            raise PlanError(f"extension segment {self.index} ends on keyframe {end}: connect the keyframes")
        self._context_sources()  # fails now, not in the encoder, when the files cannot cover the context

    def saved_frames(self, index: int) -> int:
        """Frames segment ``index``'s saved file holds."""
        seg = self.plan.segments[index]
        return seg.blend_frames + seg.new_frames

    @property
    def trim_start(self) -> int:
        """The re-created context before the blend is dropped: the video keeps the original frames."""
        return int(self.segment.context_frames - self.segment.blend_frames)


    def _context_sources(self) -> list[tuple[str, int, int, bool]]:
        """``(path, start, end, is_clip)`` frame windows that make up the last ``context_frames`` frames of
        the video before this segment, in order: the clip's tail, then earlier segments' new frames."""
        need = self.segment.context_frames
        windows: list[tuple[str, int, int, bool]] = []
        k = self.index - 1
        for path in reversed(self.previous_paths):
            if not need:
                break
            seg = self.plan.segments[k]
            take = min(need, seg.new_frames)
            end = seg.blend_frames + seg.new_frames
            windows.insert(0, (path, end - take, end, False))
            need -= take
            k -= 1
        if need and k >= 0:
            raise PlanError(f"extension segment {self.index} continues the last {self.segment.context_frames} frames "
                            f"before it, more than the {len(self.previous_paths)} previous video(s) given hold: "
                            f"connect previous_files (every earlier segment, from a Segue File List)")
        if need:
            clip = self.plan.clip_generation_frames
            windows.insert(0, (self.clip_path, clip - need, clip, True))
        return windows

    def _context(self) -> torch.Tensor:
        """The frames this segment continues, at the generation size."""
        parts = []
        for path, start, end, is_clip in self._context_sources():
            parts.append(self._clip_context(start, end) if is_clip else read_frames(path, start, end))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _clip_context(self, start: int, end: int) -> torch.Tensor:
        """The clip at generation positions ``[start, end)``: the nearest conformed clip frames,
        scaled to the generation size one chunk at a time."""
        picks = [self.plan.clip_source(g) for g in range(start, end)]
        parts, at = [], picks[0]
        for chunk in conformed_clip(self.clip_path, self.plan, picks[0], picks[-1] + 1):
            here = [p - at for p in picks if at <= p < at + chunk.shape[0]]
            if here:
                parts.append(conform_frames(chunk[here], self.width, self.height, ROUND_TRIP_FIT))
            at += chunk.shape[0]
        return torch.cat(parts)

    def guide(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(control_video [G,H,W,3], control_masks [G,H,W]) at the generation size."""
        keyframes = None
        if self.segment.end_keyframe is not None:  # images of another size are centre-cropped to it
            keyframes = conform_frames(self.keyframes[..., :3], self.width, self.height)
        return extend_segment_guide(self.plan, self.index, self._context(), keyframes, self.adjust)

    def colour_reference(self, mode: str) -> torch.Tensor | None:
        """The frames this segment continues ("previous"), or the clip's last frame, where the
        whole extension starts ("first_keyframe": the same reference for every segment)."""
        if mode == "previous":
            return self._context()
        if mode == "first_keyframe":
            clip = self.plan.clip_generation_frames
            return self._clip_context(clip - 1, clip)
        return None


# --- the steps as the step nodes make them from their widgets -------------------------------------

def checked_step(step):
    """A step as the step nodes hand it on: refused when too small to generate (its memory is
    checked when it is made)."""
    check_step_memory(step.width, step.height, step.length, step.label)
    return step


def travel_step(keyframes: torch.Tensor, index: int, settings: TravelStepSettings, previous_path: str | None = None,
                first_path: str | None = None) -> TravelStep:
    """Segment ``index`` of the travel ``settings`` describe through ``keyframes`` (what
    ``SegueTravelStep`` makes)."""
    plan = settings.plan(int(keyframes.shape[0]))
    adjust = OverlapAdjust(float(settings.strength), float(settings.desaturate), float(settings.darken))
    return checked_step(TravelStep(plan, int(index), keyframes, previous_path, adjust, first_path=first_path))


def join_step(clip_paths: Sequence[str], names: Sequence[str], index: int, settings: JoinStepSettings) -> JoinStep:
    """The transition of join ``index`` between these clip files (what ``SegueJoinStep`` makes),
    generated at the working size and rate the settings decide."""
    fmt = settings.format(clip_paths)
    plan = settings.plan(clip_paths, names, fmt)
    return checked_step(JoinStep(plan, int(index), list(clip_paths), fmt.work_width, fmt.work_height, settings.fit,
                                 bool(settings.bridging), fmt.generation_fps))


def extend_step(clip_path: str, index: int, settings: ExtendStepSettings, previous_paths: Sequence[str] = (),
                keyframes: torch.Tensor | None = None) -> ExtendStep:
    """Segment ``index`` of extending the clip file (what ``SegueExtendStep`` makes)."""
    count = int(keyframes.shape[0]) if keyframes is not None else 0
    plan = settings.plan(clip_path, count)
    adjust = OverlapAdjust(float(settings.strength), float(settings.desaturate), float(settings.darken))
    return checked_step(ExtendStep(plan, int(index), clip_path, previous_paths, keyframes, adjust))
