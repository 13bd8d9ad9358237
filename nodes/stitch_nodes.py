"""Cross-fade stitching of segments into one video, streamed: never more than one segment's
overlap plus one decoded chunk in RAM, however long the travel."""

from __future__ import annotations

import torch

from ..video_utils.crossfade import check_options
from ..video_utils.constants import (CURVES, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_FIT, DEFAULT_OVERLAP, DEFAULT_PRESET,
                                     DEFAULT_RETIME, GENERATION_FPS, MAX_SHARPEN, PRESETS)
from ..video_utils.sizes import CONFORM_FIT_MODES
from ..video_utils.errors import PlanError
from ..video_utils.lengths import as_fps
from ..video_utils.delivery import Output, deliver_segments
from ..video_utils.retime import RETIME_MODES
from ..video_utils.stitch import stitch_segment_files, stitch_stream
from ..video_utils.video_write import VideoWriter
from . import parse
from .api import CATEGORY, Progress, advanced, folders, io
from .io_nodes import counter_path, file_fingerprint, final_ui
from .paths import check_relative, resolve_input, resolve_output, split_annotation
from .video_adapters import chunk_source, file_video, video_info

MAX_SEGMENT_INPUTS = 8


def boundary_overlaps(text, count: int, name: str = "overlaps") -> list[int]:
    """One value for every boundary, or exactly one per boundary (``count`` segments)."""
    values = parse.int_list(text, name, minimum=0)
    if len(values) == 1:
        return values * (count - 1)
    if len(values) != count - 1:
        raise PlanError(
            f"{name}={text!r} has {len(values)} values but {count} segments have {count - 1} boundaries: give one "
            f"value for all or exactly {count - 1}"
        )
    return values


def encode_inputs() -> list:
    return advanced([
        io.Int.Input("crf", default=DEFAULT_CRF, min=0, max=51,
                     tooltip="H.264 quality: lower = better and bigger (17-23 is typical)."),
        io.Combo.Input("preset", options=list(PRESETS), default=DEFAULT_PRESET,
                       tooltip="x264 speed/size trade-off: slower presets make smaller files."),
    ])


def blend_inputs(optional: bool = False) -> list:
    return advanced([
        io.Combo.Input("curve", options=list(CURVES), default=DEFAULT_CURVE, optional=optional,
                       tooltip="Cross-fade weights: cosine eases in and out, linear is a straight ramp."),
        io.Float.Input("sharpen", default=0.0, min=0.0, max=MAX_SHARPEN, step=0.05, optional=optional,
                       tooltip="Unsharp mask over the cross-faded frames, stronger toward the end of each overlap "
                               "(a dissolve of two slightly different frames looks soft); 0 = off, 0.3 = the original's."),
    ])


def encode_checks(preset=None, curve=None, filename=None, filename_prefix=None) -> list:
    """validate_inputs checks of the encode/blend widgets (None or "" = linked or absent)."""
    return [
        lambda: preset is None or parse.check_choice(preset, PRESETS, "preset"),
        lambda: curve is None or parse.check_choice(curve, CURVES, "curve"),
        lambda: not filename or check_relative(split_annotation(filename, "output")[0], "filename"),
        lambda: not filename_prefix or check_relative(filename_prefix, "filename_prefix"),
    ]


def final_target_inputs(default: str) -> list:
    """Where a final MP4 goes: an exact name, or a counter-suffixed prefix."""
    return [
        io.String.Input("filename", default=default,
                        tooltip="Path under output/ WITHOUT extension; the video is written exactly at "
                                "<filename>.mp4 (atomically, overwriting). Ignored when filename_prefix is set."),
        io.String.Input("filename_prefix", default="", optional=True,
                        tooltip="Instead of filename: output/<prefix>_NNNNN_.mp4 with the next free number, "
                                "like core's savers."),
    ]


def final_path(filename: str, filename_prefix: str) -> tuple[str, str, str]:
    """(absolute path, folder kind, relative path) of a final MP4."""
    if filename_prefix:
        path, relative = counter_path(filename_prefix, "_.mp4", "filename_prefix")
        return path, "output", relative
    if not filename.strip():
        raise PlanError("filename and filename_prefix are both empty: give the output file's name")
    return resolve_output(filename, folders(), "filename", suffix=".mp4")


def check_encode(preset=None, curve=None, filename=None, filename_prefix=None, sharpen=None) -> None:
    """The same checks at run time: raise on the first problem.  ``sharpen``: the expanding nodes
    check their stitch's sharpening before any segment is generated (NaN passes ComfyUI's range check)."""
    message = parse.validated(*encode_checks(preset, curve, filename, filename_prefix))
    if message is not True:
        raise PlanError(message)
    if sharpen is not None:
        check_options(curve or DEFAULT_CURVE, float(sharpen))


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
                io.String.Input("segment_files", multiline=True, default="",
                                tooltip="Segment files in order, one per line, relative to input/ or with ' [output]' "
                                        "/ ' [temp]', e.g. 'segue/run1/seg_000.mkv [output]'. Can be linked from "
                                        "SegueFileList."),
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
                io.Video.Input("after", optional=True,
                               tooltip="Optional: any VIDEO this node must wait for (e.g. the last SegueSaveSegment), "
                                       "only to order the run; the files are read by name."),
            ],
            outputs=[io.Video.Output(display_name="video", tooltip="The stitched MP4 as a file-backed VIDEO.")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, segment_files=None, overlaps=None, preset=None, curve=None, filename=None,
                        filename_prefix=None, retime=None, fit=None):
        return parse.validated(
            *encode_checks(preset, curve, filename, filename_prefix), *delivery_checks(retime, fit),
            lambda: overlaps is None or parse.int_list(overlaps, "overlaps", minimum=0),
            lambda: segment_files is None or [resolve_input(n, folders(), "segment_files", must_exist=False)
                                              for n in parse.lines(segment_files, "segment_files")],
        )

    @classmethod
    def fingerprint_inputs(cls, segment_files=None, **kwargs):
        return file_fingerprint(parse.lines(segment_files, "segment_files", required=False)) if segment_files else None

    @classmethod
    def execute(cls, segment_files, overlaps, trim_start, curve, sharpen, fps, filename, crf, preset,
                filename_prefix="", output_fps=0.0, width=0, height=0, retime=DEFAULT_RETIME, loop=False, soundtrack="",
                after=None, fit=DEFAULT_FIT) -> io.NodeOutput:
        check_encode(preset, curve, filename, filename_prefix)
        names = parse.lines(segment_files, "segment_files")
        paths = [resolve_input(n, folders(), "segment_files") for n in names]
        bounds = boundary_overlaps(overlaps, len(paths))
        output = delivery_output(output_fps, width, height, retime, loop, fit)
        sound = resolve_input(soundtrack, folders(), "soundtrack") if str(soundtrack or "").strip() else None
        out_path, kind, relative = final_path(filename, filename_prefix)
        bar = Progress(1)
        if trim_start:
            if output != Output() or sound:
                raise PlanError(f"trim_start={trim_start} cannot be combined with output_fps/size/soundtrack: trim the "
                                f"first segment when it is saved (Segue Save Step does) and leave trim_start at 0")
            written = stitch_segment_files(paths, bounds, out_path, fps=as_fps(fps), trim_start=int(trim_start),
                                           curve=curve, sharpen=float(sharpen), crf=int(crf), preset=preset,
                                           progress=bar)
        else:
            written = deliver_segments(paths, bounds, out_path, fps=as_fps(fps), output=output, soundtrack=sound,
                                       curve=curve, sharpen=float(sharpen), crf=int(crf), preset=preset, progress=bar)
        return io.NodeOutput(file_video(out_path), ui=final_ui(relative, kind, written))


def delivery_inputs(loop: bool = True) -> list:
    """How a stitched travel is delivered: output rate and size, retiming, soundtrack (and
    ``loop``, which the travel node takes from its own loop setting)."""
    inputs = [
        io.Float.Input("output_fps", default=0.0, min=0.0, max=1000.0, step=0.001, optional=True,
                       tooltip="Frame rate of the delivered video; 0 = the segments' rate (Wan generates at 16). "
                               "Other rates retime the stitched frames (see retime)."),
        io.Int.Input("width", default=0, min=0, max=8192, optional=True,
                     tooltip="Width of the delivered video; 0 = the segments' (the generation size)."),
        io.Int.Input("height", default=0, min=0, max=8192, optional=True,
                     tooltip="Height of the delivered video; 0 = the segments'."),
        io.Combo.Input("retime", options=list(RETIME_MODES), default=DEFAULT_RETIME, optional=True,
                       tooltip="From the generation rate to output_fps: blend = mix neighbouring frames (smooth), "
                               "nearest = repeat/drop frames (sharp)."),
        io.Combo.Input("fit", options=list(CONFORM_FIT_MODES), default=DEFAULT_FIT, optional=True,
                       tooltip="How the generated frames reach a delivered width/height of another shape: crop = "
                               "fill and cut the edges, pad = black bars, stretch = distort. Use the fit your "
                               "keyframes were loaded with."),
        io.Boolean.Input("loop", default=False, optional=True,
                         tooltip="The video is a seamless loop: retiming keeps its period (and wraps at the seam)."),
        io.String.Input("soundtrack", default="", optional=True,
                        tooltip="Optional sound under the video: a sound or video file in input/ (or with ' [output]'), "
                                "trimmed or padded with silence to the video's length."),
    ]
    advanced(inputs, "retime", "fit")
    return inputs if loop else [i for i in inputs if i.id != "loop"]


def delivery_checks(retime=None, fit=None) -> list:
    """validate_inputs checks of the delivery combos: a wrong value is refused at /prompt with
    Segue's message on every ComfyUI (0.27 checks V3 combos itself unless the node does)."""
    return [lambda: retime is None or parse.check_choice(retime, RETIME_MODES, "retime"),
            lambda: fit is None or parse.check_choice(fit, CONFORM_FIT_MODES, "fit")]


def delivery_output(output_fps, width, height, retime, loop, fit=DEFAULT_FIT) -> Output:
    parse.check_choice(retime, RETIME_MODES, "retime")
    parse.check_choice(fit, CONFORM_FIT_MODES, "fit")
    if bool(width) != bool(height):
        raise PlanError(f"width={width}, height={height}: give both, or 0 for both to keep the segments' size")
    return Output(as_fps(output_fps, "output_fps") if output_fps else 0, int(width), int(height), retime, bool(loop),
                  fit)


def segment_inputs(prefix: str, count: int, what: str, required: int = 2) -> list:
    """``prefix_1 .. prefix_count`` accepting VIDEO or IMAGE; the first ``required`` are required."""
    return [
        io.MultiType.Input(f"{prefix}_{i}", types=[io.Video, io.Image], optional=i > required,
                           tooltip=f"{what} {i} (VIDEO, e.g. from Load Video / Segue Load Video, or an IMAGE batch)"
                                   + (". Optional." if i > required else "."))
        for i in range(1, count + 1)
    ]


def collect_items(kwargs: dict, prefix: str, what: str) -> list:
    """The connected ``prefix_N`` inputs in order; a hole (1, 2, 4 connected) is an error."""
    items = []
    for i in range(1, MAX_SEGMENT_INPUTS + 1):
        value = kwargs.get(f"{prefix}_{i}")
        if value is None:
            continue
        if len(items) != i - 1:
            raise PlanError(f"{prefix}_{i} is connected but {prefix}_{len(items) + 1} is not: connect {what} in order without gaps")
        items.append(value)
    return items


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
            outputs=[io.Video.Output(display_name="video", tooltip="The stitched MP4 (temp/) as a file-backed VIDEO.")],
        )

    @classmethod
    def validate_inputs(cls, overlaps=None, preset=None, curve=None):
        return parse.validated(*encode_checks(preset, curve),
                               lambda: overlaps is None or parse.int_list(overlaps, "overlaps", minimum=0))

    @classmethod
    def execute(cls, overlaps, trim_start, curve, sharpen, fps, crf, preset, **segments) -> io.NodeOutput:
        check_encode(preset, curve)
        items = collect_items(segments, "segment", "the segments")
        bounds = boundary_overlaps(overlaps, len(items))
        names = [f"segment_{i + 1}" for i in range(len(items))]
        found = [frames_source(item, int(trim_start) if i == 0 else 0, names[i]) for i, item in enumerate(items)]
        sources, lengths, sizes, rates = zip(*found)
        rate = as_fps(fps) if fps > 0 else next((r for r in rates if r), GENERATION_FPS)
        width, height = sizes[0]
        path, _ = counter_path("segue/stitch", ".mp4", "stitch", kind="temp")
        with VideoWriter(path, rate, width, height, crf=int(crf), preset=preset) as writer:
            stitch_stream(list(sources), bounds, writer.write, lengths=list(lengths), curve=curve,
                          sharpen=float(sharpen), progress=Progress(1), names=names)
        return io.NodeOutput(file_video(path))


NODES = [SegueStitchFiles, SegueCrossfadeStitch]
