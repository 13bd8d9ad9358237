"""One travel segment, or a whole travel, as a single node that expands into ordinary nodes.

The expansion is guide -> (preview | WanVaceToVideo -> KSampler(s) -> TrimVideoLatent ->
VAEDecode) -> SegueCheckFrames -> SegueSaveSegment per segment, so ComfyUI shows its own progress,
Cancel works between and inside samplers, and each node is cached.  Segments are saved
losslessly; a chained segment's guide reads only the previous file's last frames, and the final
stitch streams the files, so no node ever holds the whole travel's frames.

ComfyUI's default (classic) cache still keeps every executed node's outputs until the prompt
ends, so each segment's guide, mask and generated frames stay in RAM during a SegueTravel run
(about 0.4 GB per 33-frame 832x480 segment with the preview generator, measured).  Very long
full-size travels want the orchestrator's one-prompt-per-segment mode, or ``--cache-none`` on a
ComfyUI that has PR #10440 (late October 2025); before it, ``--cache-none`` fails on any node
expansion (ComfyUI issue #10329).
"""

from __future__ import annotations

from ..video_utils.errors import PlanError
from . import parse
from .api import CATEGORY, ExecutionBlocker, GraphBuilder, io
from .expansion import (EXPAND_HIDDEN, folder_input, generator_check, generator_inputs, generator_settings,
                        input_links, no_lazy_inputs, run_folder)
from .graphs import TravelFiles, travel_graph, travel_segment
from .guide_nodes import adjust_inputs, travel_plan_from, travel_settings_checks, travel_settings_inputs
from .stitch_nodes import blend_inputs, check_encode, encode_checks, encode_inputs


def _guide_settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken) -> dict:
    return {"segment_frames": str(segment_frames), "overlap": str(overlap), "mode": mode,
            "exact_keyframes": bool(exact_keyframes), "strength": float(strength),
            "desaturate": float(desaturate), "darken": float(darken)}


def _fps_input() -> io.Float.Input:
    return io.Float.Input("fps", default=16.0, min=0.01, max=1000.0, step=0.01,
                          tooltip="Frame rate of the files (Wan generates at 16).")


class SegueTravelSegment(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravelSegment",
            display_name="Segue Travel Segment",
            category=CATEGORY,
            description="One travel segment end to end (guide -> Wan VACE or preview -> frame check -> lossless "
                        "file), expanded into ordinary nodes. Chain several by feeding each one's video into the "
                        "next one's previous_video.",
            inputs=[
                io.Image.Input("keyframes", tooltip="ALL keyframes as one batch (SegueLoadImages), multiples of 16."),
                io.Int.Input("segment_index", default=0, min=0, max=10_000,
                             tooltip="Which segment: 0 = keyframe 0 -> 1, 1 = keyframe 1 -> 2, ..."),
                *travel_settings_inputs(),
                io.Image.Input("previous_segment", optional=True, lazy=True,
                               tooltip="Chained segments >= 1: the previous segment's frames (its images output)."),
                io.Video.Input("previous_video", optional=True, lazy=True,
                               tooltip="Chained segments >= 1, instead of previous_segment: the previous segment's "
                                       "video output (only its last overlap frames are read)."),
                *adjust_inputs(),
                *generator_inputs("wan", prompts_help="What happens in this segment (encoded with clip)."),
                _fps_input(),
                io.String.Input("filename", default="segue/segment",
                                tooltip="Prefix of the lossless file: <filename>_NNNNN/seg_NNN.mkv (a new folder per run)."),
                folder_input("temp"),
            ],
            outputs=[
                io.Image.Output(display_name="images",
                                tooltip="The segment's frames as they land in the video (lead-in trimmed)."),
                io.Video.Output(display_name="video", tooltip="The same frames as a lossless, file-backed VIDEO."),
            ],
            hidden=EXPAND_HIDDEN,
            enable_expand=True,
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None, generator=None):
        return parse.validated(*travel_settings_checks(segment_frames, overlap, mode), generator_check(generator))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, fps, filename,
                folder, strength=1.0, desaturate=0.0, darken=0.0, **kwargs) -> io.NodeOutput:
        plan = travel_plan_from(int(keyframes.shape[0]), segment_frames, overlap, mode, exact_keyframes)
        if not 0 <= segment_index < len(plan.segments):
            raise PlanError(
                f"segment_index={segment_index} is out of range: {keyframes.shape[0]} keyframes make segments "
                f"0..{len(plan.segments) - 1}"
            )
        links = input_links(cls)
        previous = {k: links[k] for k in ("previous_segment", "previous_video") if k in links}
        if len(previous) > 1:
            raise PlanError("previous_segment and previous_video are both connected: connect only one")
        gen, cond, seeds = generator_settings(links, kwargs, len(plan.segments),
                                              [str(kwargs.get("prompt", ""))] * len(plan.segments), "SegueTravelSegment")
        run, kind = run_folder(filename, parse.check_choice(folder, ("output", "temp"), "folder"))
        g = GraphBuilder()
        frames, save = travel_segment(
            g, plan, segment_index, links["keyframes"], _guide_settings(segment_frames, overlap, mode, exact_keyframes,
                                                                         strength, desaturate, darken),
            gen, cond, seeds[segment_index], previous, "", f"{run}/seg_{segment_index:03d} [{kind}]", fps)
        return io.NodeOutput(frames, save.out(0), expand=g.finalize())


class SegueTravel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravel",
            display_name="Segue Travel",
            category=CATEGORY,
            description="A whole travel through N keyframes in one node: N-1 segments (Wan VACE or preview), each "
                        "saved losslessly, chained through the files, then cross-faded into one MP4 by a streamed "
                        "stitch. Connect Save Video to the video output.",
            inputs=[
                io.Image.Input("keyframes", tooltip="All keyframes as one batch (SegueLoadImages), multiples of 16."),
                io.String.Input("prompts", multiline=True, default="",
                                tooltip="One prompt per line, one line per segment; fewer lines repeat the last."),
                *travel_settings_inputs(),
                *generator_inputs("wan"),
                *adjust_inputs(),
                *blend_inputs(),
                _fps_input(),
                io.String.Input("filename", default="segue/travel",
                                tooltip="Prefix of the run folder: <filename>_NNNNN/ holds seg_000.mkv ... (lossless) "
                                        "and final.mp4. A new folder per run, nothing is overwritten."),
                folder_input("output"),
                *encode_inputs(),
                io.Boolean.Input("output_images", default=False,
                                 tooltip="Also decode the final video to the images output (costs RAM for long "
                                         "travels; off = the images output is blocked)."),
            ],
            outputs=[
                io.Video.Output(display_name="video", tooltip="The stitched travel as a file-backed MP4 VIDEO."),
                io.Image.Output(display_name="images",
                                tooltip="The travel's frames as IMAGE; only when output_images is on."),
            ],
            hidden=EXPAND_HIDDEN,
            enable_expand=True,
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None, preset=None, curve=None, generator=None):
        return parse.validated(*travel_settings_checks(segment_frames, overlap, mode), *encode_checks(preset, curve),
                               generator_check(generator))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, keyframes, prompts, segment_frames, overlap, mode, exact_keyframes, curve, sharpen, fps,
                filename, folder, crf, preset, output_images, strength=1.0, desaturate=0.0, darken=0.0,
                **kwargs) -> io.NodeOutput:
        plan = travel_plan_from(int(keyframes.shape[0]), segment_frames, overlap, mode, exact_keyframes)
        count = len(plan.segments)
        links = input_links(cls)
        texts = parse.per_segment_text(prompts, count, "prompts")
        gen, cond, seeds = generator_settings(links, kwargs, count, texts, "SegueTravel")
        check_encode(preset, curve)
        run, kind = run_folder(filename, parse.check_choice(folder, ("output", "temp"), "folder"))
        files = TravelFiles(tuple(f"{run}/seg_{i:03d} [{kind}]" for i in range(count)), f"{run}/final [{kind}]")
        g = GraphBuilder()
        video = travel_graph(
            g, plan, links["keyframes"],
            _guide_settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken),
            gen, cond, seeds, files, fps,
            {"curve": curve, "sharpen": float(sharpen), "crf": int(crf), "preset": preset})
        if output_images:
            images = g.node("GetVideoComponents", id="frames", video=video).out(0)
        else:
            images = ExecutionBlocker("SegueTravel: turn output_images on to use its images output "
                                      "(off by default so long travels are not decoded into RAM)")
        return io.NodeOutput(video, images, expand=g.finalize())


NODES = [SegueTravelSegment, SegueTravel]
