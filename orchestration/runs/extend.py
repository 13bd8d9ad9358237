"""New frames after a clip as the orchestrator runs them (``ExtendRun``), optionally landing on
keyframe images (the command line's ``--to``), validated up front by the planner the extend
nodes use (``video_utils.core.extend_plan``) on the clip's frame count as those nodes conform it
(at its own rate; probed with PyAV).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ...video_utils.core.constants import DEFAULT_EXTEND_FRAMES, DEFAULT_OVERLAP, GENERATION_FPS
from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.extend_plan import ExtendPlan, plan_extend
from ...video_utils.core.lengths import DEFAULT_MAX_GENERATION, as_fps, flag
from ...video_utils.core.parse import one_or_list
from ...video_utils.core.retime import conformed_frame_count
from ...video_utils.core.sizes import even_size, generation_size
from .checks import check_file, probe_clip
from .common import ClipRef, SegmentRun, check_images


@dataclass
class ExtendRun(SegmentRun):
    """New frames after a clip's end, optionally landing on keyframe images (``keyframes``,
    the command line's ``--to``): ``video_utils.core.extend_plan``.  The seed, encoder, generator,
    output and guide-adjustment fields are ``SegmentRun``'s."""

    clip: ClipRef
    frames: int | list[int] = DEFAULT_EXTEND_FRAMES   # new frames at the generation rate: a total, or one per leg
    overlap: int = DEFAULT_OVERLAP    # the video's last frames (generation rate) each segment continues
    keyframes: list[str] = field(default_factory=list)
    max_generation: int = DEFAULT_MAX_GENERATION
    blend: int = 0
    prompts: str | list[str] = ""     # one for every segment, or one per segment
    negative_prompts: str | list[str] = ""
    keep_audio: bool = True
    clip_frames: int | None = None    # probed (at the output rate); stored so status/resume need not re-probe
    clip_fps: str | None = None       # probed: the clip's rate, the output rate

    kind = "extend"

    @property
    def segment_count(self) -> int:
        return len(self.plan().segments)

    def output_fps(self) -> Fraction:
        """The output rate: the clip's (probed); the generation rate for counts given by the caller."""
        if self.clip_fps is None and self.clip_frames is None:
            self.probe()
        return GENERATION_FPS if self.clip_fps is None else as_fps(self.clip_fps, "clip_fps")

    def probe(self) -> int:
        check_file(self.clip.path, "clip", None)
        info = probe_clip(self.clip.path, f"clip ({self.clip.name or Path(self.clip.path).name})")
        self.clip_fps = str(info.fps)
        self.clip_frames = conformed_frame_count(self.clip.path, info.fps)
        self._size = even_size(info.width, info.height)
        return self.clip_frames

    def plan(self) -> ExtendPlan:
        if self.clip_frames is None:
            self.probe()
        return plan_extend(self.clip_frames, one_or_list(self.frames), self.overlap, len(self.keyframes),
                           self.max_generation, self.blend, generation_fps=GENERATION_FPS,
                           output_fps=self.output_fps())

    def validate(self, check_files: bool = True) -> ExtendPlan:
        if not isinstance(self.clip, ClipRef):
            raise PlanError(f"clip={brief(self.clip)} must be the path of the clip to extend")
        check_images(self.keyframes, "keyframe", "keyframes", check_files, option=" (--to)")
        flag(self.keep_audio, "keep_audio")
        if check_files:
            self.probe()
        plan = self.plan()
        self.check_segment_settings(len(plan.segments))
        size = getattr(self, "_size", None)
        self.check_generation(plan, generation_size(*size) if size else None, check_files)
        return plan
