"""A travel between keyframe images as the orchestrator runs it (``TravelRun``): one segment
per consecutive pair, validated up front by the planner the nodes use
(``video_utils.core.travel_plan``), so a run that validates here is the plan the server executes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...video_utils.core.constants import (CONFORM_FIT_MODES, DEFAULT_FIT, DEFAULT_OVERLAP, DEFAULT_RETIME,
                                           DEFAULT_SEGMENT_FRAMES, DEFAULT_TRAVEL_MODE, GENERATION_FPS, RETIME_MODES,
                                           TRAVEL_MODES)
from ...video_utils.core.lengths import check_step_memory, flag
from ...video_utils.core.parse import one_or_list
from ...video_utils.core.sizes import check_fit, generation_size, wan_size
from ...video_utils.core.travel_plan import TravelPlan, plan_travel, segment_count
from .checks import check_choice, check_file, check_fps, check_name, image_size, size_fix
from .common import SegmentRun, check_images


@dataclass
class TravelRun(SegmentRun):
    """A travel between keyframe images (one segment per consecutive pair); the seed, encoder,
    generator, output and guide-adjustment fields are ``SegmentRun``'s."""

    images: list[str]
    segment_frames: int | list[int] = DEFAULT_SEGMENT_FRAMES
    overlap: int | list[int] = DEFAULT_OVERLAP
    mode: str = DEFAULT_TRAVEL_MODE
    exact_keyframes: bool = False
    loop: bool = False                # one more segment back to the first keyframe: a seamless loop
    prompts: str | list[str] = ""
    negative_prompts: str | list[str] = ""
    width: int = 0                    # generation size; 0 = the first image's (sizes.generation_size)
    height: int = 0
    fit: str = DEFAULT_FIT            # how keyframes of another shape reach the generation size
    fps: float = float(GENERATION_FPS)   # the delivered rate; segments are generated at 16 and retimed
    out_width: int = 0                # the delivered size; 0 = the generation size
    out_height: int = 0
    retime: str = DEFAULT_RETIME      # 16 fps -> fps: blend neighbouring frames, or nearest
    soundtrack: str = ""              # a sound (or video) file under the travel, fitted to its length

    kind = "travel"

    @property
    def segment_count(self) -> int:
        """Segments of the plan: one per keyframe pair, one for a single image, one more for a loop."""
        return segment_count(len(self.images), self.loop)

    def plan(self, keyframe_count: int | None = None) -> TravelPlan:
        """The frame plan (``keyframe_count``: plan for that many keyframes instead of ``images``,
        as ``segue plan travel`` does)."""
        return plan_travel(len(self.images) if keyframe_count is None else keyframe_count,
                           one_or_list(self.segment_frames), one_or_list(self.overlap), self.mode, self.exact_keyframes, loop=self.loop, output_fps=self.fps)

    def size(self) -> tuple[int, int] | None:
        """The generation size: ``width`` x ``height``, else the first image's (snapped to 16);
        None when the first image's header cannot be read."""
        if self.width:
            return wan_size(self.width, self.height)
        first = image_size(self.images[0]) if self.images else None
        return generation_size(*first) if first else None

    def validate(self, check_files: bool = True) -> TravelPlan:
        """Plan the run (raises ``PlanError`` naming the bad input) and return the frame plan."""
        check_images(self.images, "image", "images", check_files)
        check_choice(self.mode, TRAVEL_MODES, "mode")
        flag(self.exact_keyframes, "exact_keyframes")
        flag(self.loop, "loop")
        plan = self.plan()
        self.check_segment_settings(self.segment_count)
        check_fit(check_name(self.fit, "fit"), CONFORM_FIT_MODES)
        check_fps(self.fps, "fps")
        self.check_size_pairs(("width", "height", "the first image's size"))
        if self.width:
            self.width, self.height = wan_size(self.width, self.height)
        self.check_size_pairs(("out_width", "out_height", "the generation size"))
        if self.out_width:   # the delivery holds a chunk of 16 delivered frames at a time
            check_step_memory(self.out_width, self.out_height, 16, "delivered chunk", generated=False,
                              fix=size_fix("delivered chunk"))
        check_choice(self.retime, RETIME_MODES, "retime")
        if self.soundtrack and check_files:
            check_file(self.soundtrack, "soundtrack", None)
        self.check_generation(plan, self.size() if check_files or self.width else None, check_files)
        return plan
