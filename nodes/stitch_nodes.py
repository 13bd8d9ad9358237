"""Cross-fade stitching of segments into one video, streamed: never more than one segment's
overlap plus one decoded chunk in RAM, however long the travel."""

from __future__ import annotations

import torch

from ..video_utils.core import parse
from ..video_utils.core.constants import DEFAULT_OVERLAP, GENERATION_FPS
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import counter_path, resolve_input
from ..video_utils.core.lengths import as_fps
from ..video_utils.core.step_settings import EncodeSettings
from ..video_utils.core.travel_plan import boundary_overlaps
from ..video_utils.engine.executor import stitch_segment_files
from ..video_utils.engine.stitch import stitch_stream
from ..video_utils.engine.video_write import VideoWriter
from .api import CATEGORY, Progress, folders, io, node_context
from .outputs import final_output
from .video_adapters import chunk_source, file_video, video_info
from .widgets import (MAX_SEGMENT_INPUTS, after_input, blend_inputs, collect_items, delivery_checks, delivery_inputs,
                      encode_checks, encode_inputs, file_fingerprint, files_input, final_target_inputs,
                      segment_inputs, validated, video_output)


class SegueStitchFiles(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueStitchFiles",
            display_name="Segue Stitch Files",
            category=CATEGORY,
            description="Cross-fade lossless segment files into one H.264 MP4, streamed chunk by chunk "
                        "(bounded RAM for any number of segments).",
            inputs=[
                files_input("segment_files", "The segment files", linked=True),
                io.String.Input("overlaps", default=str(DEFAULT_OVERLAP),
                                tooltip="Frames cross-faded at each boundary: one value ('8') or one per boundary "
                                        "('8, 10, 8'). Use the travel plan's overlaps."),
                io.Int.Input("trim_start", default=0, min=0, max=100_000,
                             tooltip="Frames dropped from the start of the FIRST segment (a lead-in not trimmed at save)."),
                *blend_inputs(),
                io.Float.Input("fps", default=float(GENERATION_FPS), min=0.01, max=1000.0, step=0.01, tooltip="Output frame rate."),
                *final_target_inputs("segue/run/final"),
                *encode_inputs(),
                *delivery_inputs(),
                after_input(),
            ],
            outputs=[video_output("stitched video")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, segment_files=None, overlaps=None, preset=None, curve=None, filename=None,
                        filename_prefix=None, retime=None, fit=None):
        return validated(
            *encode_checks(preset, curve, filename, filename_prefix), *delivery_checks(retime, fit),
            lambda: overlaps is None or parse.int_list(overlaps, "overlaps", minimum=0),
            lambda: segment_files is None or [resolve_input(n, folders(), "segment_files", must_exist=False)
                                              for n in parse.lines(segment_files, "segment_files")],
        )

    @classmethod
    def fingerprint_inputs(cls, segment_files=None, **kwargs):
        return file_fingerprint(parse.lines(segment_files, "segment_files", required=False)) if segment_files else None

    @classmethod
    def execute(cls, **inputs) -> io.NodeOutput:
        return final_output(stitch_segment_files(node_context(), **inputs))


def frames_source(item, start: int, name: str):
    """(chunk source, frame count, (width, height), fps or None) of a VIDEO or IMAGE item, from
    frame ``start``; a file-backed VIDEO is only opened when the stitch reaches it."""
    if isinstance(item, torch.Tensor):
        if item.dim() != 4:
            raise PlanError(f"{name} must be an IMAGE batch [frames,H,W,3] or a VIDEO")
        if start > item.shape[0]:
            raise PlanError(f"trim_start={start} is more than {name}'s {item.shape[0]} frames")
        frames = item[start:, ..., :3]
        return frames, int(frames.shape[0]), (int(item.shape[2]), int(item.shape[1])), None
    info = video_info(item)
    if start > info.frame_count:
        raise PlanError(f"trim_start={start} is more than {name}'s {info.frame_count} frames")
    return chunk_source(item, start), info.frame_count - start, (info.width, info.height), info.fps


class SegueCrossfadeStitch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueCrossfadeStitch",
            display_name="Segue Crossfade Stitch",
            category=CATEGORY,
            description="Cross-fade segments (VIDEO or IMAGE, in order) into one MP4, streamed from files when "
                        "the segments are file-backed. Returns a file-backed VIDEO (in temp/; save it with Save Video).",
            inputs=[
                *segment_inputs("segment", MAX_SEGMENT_INPUTS, "Segment"),
                io.String.Input("overlaps", default=str(DEFAULT_OVERLAP),
                                tooltip="Frames cross-faded at each boundary: one value or one per boundary ('8, 10')."),
                io.Int.Input("trim_start", default=0, min=0, max=100_000,
                             tooltip="Frames dropped from the start of segment_1 (a lead-in)."),
                *blend_inputs(),
                io.Float.Input("fps", default=0.0, min=0.0, max=1000.0, step=0.01,
                               tooltip="Output frame rate; 0 = the first VIDEO segment's rate (16 if all are IMAGE)."),
                *encode_inputs(),
            ],
            outputs=[video_output("stitched video (in temp/)")],
        )

    @classmethod
    def validate_inputs(cls, overlaps=None, preset=None, curve=None):
        return validated(*encode_checks(preset, curve),
                         lambda: overlaps is None or parse.int_list(overlaps, "overlaps", minimum=0))

    @classmethod
    def execute(cls, overlaps, trim_start, curve, sharpen, fps, crf, preset, **segments) -> io.NodeOutput:
        EncodeSettings(curve, float(sharpen), int(crf), preset).check()
        items = collect_items(segments, "segment", "the segments")
        bounds = boundary_overlaps(parse.int_list(overlaps, "overlaps", minimum=0), len(items), "overlaps")
        names = [f"segment_{i + 1}" for i in range(len(items))]
        found = [frames_source(item, int(trim_start) if i == 0 else 0, names[i]) for i, item in enumerate(items)]
        sources, lengths, sizes, rates = zip(*found)
        rate = as_fps(fps) if fps > 0 else next((r for r in rates if r), GENERATION_FPS)
        width, height = sizes[0]
        path, _ = counter_path("segue/stitch", ".mp4", folders(), "stitch", kind="temp")
        with VideoWriter(path, rate, width, height, crf=int(crf), preset=preset) as writer:
            stitch_stream(list(sources), bounds, writer.write, lengths=list(lengths), curve=curve,
                          sharpen=float(sharpen), progress=Progress(1), names=names)
        return io.NodeOutput(file_video(path))


NODES = [SegueStitchFiles, SegueCrossfadeStitch]
