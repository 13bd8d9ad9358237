"""Guide builders that plug straight into core WanVaceToVideo, and the template slot markers.

The guide nodes output ``control_video`` / ``control_masks`` at the exact generation size and
4n+1 length plus the ``length``, ``width`` and ``height`` to wire into WanVaceToVideo, so nothing
is resampled or padded on the way (video_utils.guides holds the maths).
"""

from __future__ import annotations

from ..video_utils.constants import DEFAULT_JOIN_CONTEXT, DEFAULT_JOIN_GAP, DEFAULT_OVERLAP, DEFAULT_SEGMENT_FRAMES
from ..video_utils.errors import PlanError
from ..video_utils.guides import OverlapAdjust, join_contexts, join_transition_guide, travel_segment_guide
from ..video_utils.join_plan import plan_join
from ..video_utils.travel_plan import MODES, plan_travel
from . import parse
from .api import CATEGORY, advanced, io
from .video_adapters import read_range, read_tail, video_info

GUIDE_OUTPUTS_HELP = {
    "control_video": "Guide frames [length,H,W,3]: kept frames are real pixels, frames to generate are 0.5 grey. "
                     "Connect to WanVaceToVideo.control_video.",
    "control_masks": "Mask [length,H,W]: 0 = keep, 1 = generate. Connect to WanVaceToVideo.control_masks.",
    "length": "Frames to generate (4n+1). Connect to WanVaceToVideo.length.",
    "width": "Generation width (multiple of 16). Connect to WanVaceToVideo.width.",
    "height": "Generation height (multiple of 16). Connect to WanVaceToVideo.height.",
}


def guide_outputs() -> list:
    return [
        io.Image.Output(display_name="control_video", tooltip=GUIDE_OUTPUTS_HELP["control_video"]),
        io.Mask.Output(display_name="control_masks", tooltip=GUIDE_OUTPUTS_HELP["control_masks"]),
        io.Int.Output(display_name="length", tooltip=GUIDE_OUTPUTS_HELP["length"]),
        io.Int.Output(display_name="width", tooltip=GUIDE_OUTPUTS_HELP["width"]),
        io.Int.Output(display_name="height", tooltip=GUIDE_OUTPUTS_HELP["height"]),
    ]


def travel_settings_inputs() -> list:
    """The plan inputs SegueTravelGuide, SegueTravelSegment and SegueTravel share."""
    return [
        io.String.Input("segment_frames", default=str(DEFAULT_SEGMENT_FRAMES),
                        tooltip="Frames from one keyframe to the next: one number for every segment ('48') or one "
                                "per segment ('48, 64, 48'). Lengths are chosen so keyframes land within 2 frames."),
        io.String.Input("overlap", default=str(DEFAULT_OVERLAP),
                        tooltip="Frames cross-faded at each boundary: one number ('8') or one per boundary "
                                "('8, 10, 8'). In chained mode these frames continue the previous segment."),
        io.Combo.Input("mode", options=list(MODES), default="chained",
                       tooltip="chained: each segment continues the previous one's last frames (smooth motion, "
                               "sequential); independent: segments only share keyframes (parallel, less continuity)."),
        io.Boolean.Input("exact_keyframes", default=False,
                         tooltip="Land every keyframe exactly on its frame (overlaps flex by up to 2 frames; "
                                 "segment 0 gets a short lead-in that is trimmed)."),
        io.Boolean.Input("loop", default=False, optional=True,
                         tooltip="Seamless loop: one more segment from the last keyframe back to the first, so the "
                                 "video plays round with no jump (segment_frames then has one entry per keyframe)."),
    ]


def first_video_input() -> io.Input:
    return io.Video.Input("first_video", optional=True,
                          tooltip="loop only, the closing segment: segment 0's video (its first frames end the loop "
                                  "so it runs into frame 0 without a jump).")


def join_core_inputs() -> list:
    """The join settings SegueJoinGuide, SegueJoinClips and SegueJoinAssembleFiles share."""
    return [
        io.Int.Input("context", default=DEFAULT_JOIN_CONTEXT, min=1, max=1000,
                     tooltip="Frames of each clip kept on both sides of a transition (and cross-faded back)."),
        io.Int.Input("gap", default=DEFAULT_JOIN_GAP, min=0, max=10_000,
                     tooltip="Frames generated between the contexts; shrinks by up to 3 so the transition is 4n+1."),
        io.Boolean.Input("replace", default=False,
                         tooltip="Replace: the gap replaces frames at each cut (half from A's end, half from B's "
                                 "start; total length kept); off = insert the gap (the video grows by it)."),
    ]


def adjust_inputs() -> list:
    return advanced([
        io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="Chained context frames mixed with grey: 1 = unchanged, lower lets the new "
                               "segment drift further from the previous one."),
        io.Float.Input("desaturate", default=0.0, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="Desaturate the chained context frames (0 = off): counters colour build-up."),
        io.Float.Input("darken", default=0.0, min=-1.0, max=1.0, step=0.01, optional=True,
                       tooltip="Darken (positive) or brighten (negative) the chained context frames: counters "
                               "brightness drift over many segments."),
    ])


def travel_plan_from(keyframe_count: int, segment_frames, overlap, mode, exact_keyframes, loop=False):
    parse.check_choice(mode, MODES, "mode")
    frames = parse.scalar_or_list(parse.int_list(segment_frames, "segment_frames"))
    overlaps = parse.scalar_or_list(parse.int_list(overlap, "overlap"))
    return plan_travel(keyframe_count, frames, overlaps, mode, bool(exact_keyframes), loop=bool(loop))


def travel_settings_checks(segment_frames=None, overlap=None, mode=None) -> list:
    """validate_inputs checks of the shared travel widgets (None = linked, checked at run time)."""
    return [
        lambda: segment_frames is None or parse.int_list(segment_frames, "segment_frames", minimum=1),
        lambda: overlap is None or parse.int_list(overlap, "overlap", minimum=0),
        lambda: mode is None or parse.check_choice(mode, MODES, "mode"),
    ]


class SegueTravelGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravelGuide",
            display_name="Segue Travel Guide",
            category=CATEGORY,
            description="Guide video + mask for one travel segment (keyframe i -> i+1), ready for WanVaceToVideo.",
            inputs=[
                io.Image.Input("keyframes", tooltip="ALL keyframes as one batch (SegueLoadImages), multiples of 16."),
                io.Int.Input("segment_index", default=0, min=0, max=10_000,
                             tooltip="Which segment: 0 = keyframe 0 -> 1, 1 = keyframe 1 -> 2, ..."),
                *travel_settings_inputs(),
                io.Image.Input("previous_segment", optional=True,
                               tooltip="Chained segments >= 1: the previous segment's frames (its last overlap frames "
                                       "are enough, e.g. SegueLoadVideo with last_frames)."),
                io.Video.Input("previous_video", optional=True,
                               tooltip="Chained segments >= 1, instead of previous_segment: the previous segment's "
                                       "VIDEO (SegueSaveSegment); only its last overlap frames are read."),
                first_video_input(),
                *adjust_inputs(),
            ],
            outputs=[*guide_outputs(),
                     io.Int.Output(display_name="trim_start",
                                   tooltip="Leading generated frames to drop (SegueSaveSegment.trim_start).")],
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None):
        return parse.validated(*travel_settings_checks(segment_frames, overlap, mode))

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, loop=False,
                previous_segment=None, previous_video=None, first_video=None, strength=1.0, desaturate=0.0,
                darken=0.0) -> io.NodeOutput:
        plan = travel_plan_from(int(keyframes.shape[0]), segment_frames, overlap, mode, exact_keyframes, loop)
        if previous_segment is not None and previous_video is not None:
            raise PlanError("previous_segment and previous_video are both connected: connect only one")
        if not 0 <= segment_index < len(plan.segments):
            raise PlanError(
                f"segment_index={segment_index} is out of range: {keyframes.shape[0]} keyframes make segments "
                f"0..{len(plan.segments) - 1}"
            )
        seg = plan.segments[segment_index]
        previous = previous_segment
        if previous_video is not None:
            if not seg.context_frames:
                raise PlanError(
                    f"previous_video was given for segment {segment_index}, which has no context frames "
                    f"(mode {mode}{', first segment' if segment_index == 0 else ''}): disconnect it"
                )
            have = video_info(previous_video).frame_count
            if have < seg.context_frames:
                raise PlanError(
                    f"previous_video has {have} frames but segment {segment_index} needs its last "
                    f"{seg.context_frames}: connect the whole previous segment"
                )
            previous = read_tail(previous_video, seg.context_frames)
        first = read_range(first_video, 0, seg.end_context_frames) if first_video is not None and \
            seg.end_context_frames else None
        adjust = OverlapAdjust(strength=float(strength), desaturate=float(desaturate), darken=float(darken))
        guide, masks = travel_segment_guide(plan, segment_index, keyframes[..., :3], previous, adjust, first)
        return io.NodeOutput(guide, masks, int(seg.generate_frames), int(guide.shape[2]), int(guide.shape[1]),
                             int(seg.trim_start))


class SegueJoinGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinGuide",
            display_name="Segue Join Guide",
            category=CATEGORY,
            description="Guide video + mask for the transition between two clips: [A's last context | gap | "
                        "B's first context], ready for WanVaceToVideo.",
            inputs=[
                io.Image.Input("clip_a", tooltip="The earlier clip (or at least its last context (+ replaced) frames), "
                                                 "multiples of 16."),
                io.Image.Input("clip_b", tooltip="The later clip (or at least its first (replaced +) context frames), "
                                                 "same size as clip_a."),
                *join_core_inputs(),
                io.Boolean.Input("bridging", default=False,
                                 tooltip="Also keep A's last and B's first frame at 1/3 and 2/3 of a long gap, so it "
                                         "does not wander off."),
            ],
            outputs=guide_outputs(),
        )

    @classmethod
    def execute(cls, clip_a, clip_b, context, gap, replace, bridging) -> io.NodeOutput:
        a, b = clip_a[..., :3], clip_b[..., :3]
        plan = plan_join([int(a.shape[0]), int(b.shape[0])], context=int(context), gap=int(gap),
                         replace=bool(replace), clip_names=["clip_a", "clip_b"])
        spec = plan.joins[0]
        context_a, context_b = join_contexts(spec, a, b)
        guide, masks = join_transition_guide(spec, context_a, context_b, bridging=bool(bridging))
        return io.NodeOutput(guide, masks, int(spec.transition_frames), int(guide.shape[2]), int(guide.shape[1]))


SLOT_ERROR = ("{node} is a placeholder in a sampler template (a Segue Recipe's template, or segue --generator "
              "TEMPLATE.json): it marks where {what} and is replaced when the template is used, so it cannot run "
              "by itself. Save the graph as an API-format template for a recipe, or connect {instead} instead.")


class SegueGuideSlot(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueGuideSlot",
            display_name="Segue Guide Slot (template)",
            category=CATEGORY,
            description="Template marker: where a template is used (a Segue Recipe's template, the orchestrator), "
                        "its outputs are replaced by the step's guide (SegueStepGuide). It cannot run by itself.",
            inputs=[],
            outputs=guide_outputs(),
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        raise PlanError(SLOT_ERROR.format(node="SegueGuideSlot", what="the guide enters",
                                          instead="SegueStepGuide (or SegueTravelGuide / SegueJoinGuide)"))


class SegueFramesSlot(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueFramesSlot",
            display_name="Segue Frames Slot (template)",
            category=CATEGORY,
            description="Template marker: where a template is used, its input is rewired into the step's "
                        "saver (SegueSaveStep). It cannot run by itself.",
            inputs=[io.Image.Input("images", lazy=True,
                                   tooltip="The generated frames (e.g. VAEDecode's output).")],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def check_lazy_status(cls, images=None):
        return []  # fail at once instead of running the sampler chain first

    @classmethod
    def execute(cls, images=None) -> io.NodeOutput:
        raise PlanError(SLOT_ERROR.format(node="SegueFramesSlot", what="the generated frames leave",
                                          instead="SegueSaveStep or SegueSaveVideo"))


NODES = [SegueTravelGuide, SegueJoinGuide, SegueGuideSlot, SegueFramesSlot]
