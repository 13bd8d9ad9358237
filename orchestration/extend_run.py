"""New frames after a clip as the orchestrator runs them (``ExtendRun``), optionally landing on
keyframe images (the command line's ``--to``), validated up front by the planner the extend
nodes use (``video_utils.extend_plan``) on the clip's probed frame count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..video_utils.errors import PlanError
from ..video_utils.extend_plan import ExtendPlan, plan_extend
from ..video_utils.lengths import DEFAULT_MAX_GENERATION, flag
from ..video_utils.sizes import generation_size
from .run_checks import brief, check_file, int_or_list, probe_clip
from .run_common import ClipRef, SegmentRun, check_images


@dataclass
class ExtendRun(SegmentRun):
    """New frames after a clip's end, optionally landing on keyframe images (``keyframes``,
    the command line's ``--to``): ``video_utils.extend_plan``.  The seed, encoder, generator,
    output and guide-adjustment fields are ``SegmentRun``'s."""

    clip: ClipRef
    frames: int | list[int] = 48      # new frames: a total, or one per leg
    overlap: int = 8                  # the video's last frames each segment continues
    keyframes: list[str] = field(default_factory=list)
    max_generation: int = DEFAULT_MAX_GENERATION
    blend: int = 0
    prompts: str | list[str] = ""     # one for every segment, or one per segment
    negative_prompts: str | list[str] = ""
    keep_audio: bool = True
    clip_frames: int | None = None    # probed; stored so status/resume need not re-probe

    kind = "extend"

    @property
    def segment_count(self) -> int:
        return len(self.plan().segments)

    def probe(self) -> int:
        check_file(self.clip.path, "clip", None)
        info = probe_clip(self.clip.path, f"clip ({self.clip.name or Path(self.clip.path).name})")
        self.clip_frames = info.frame_count
        self._size = (info.width, info.height)
        return self.clip_frames

    def plan(self) -> ExtendPlan:
        if self.clip_frames is None:
            self.probe()
        return plan_extend(self.clip_frames, int_or_list(self.frames), self.overlap, len(self.keyframes),
                           self.max_generation, self.blend)

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