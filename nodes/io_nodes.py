"""Loading keyframes and videos by name, saving segments and videos (atomically, confined).

Loaders read only from ComfyUI's input/, output/ and temp/ folders (``paths``), fingerprint files
by mtime and size (never by hashing gigabytes), and read videos only over the frames asked for.
Savers write to a temporary name in the target folder and rename it, so a crash or Cancel never
leaves a half-written file under the final name.
"""

from __future__ import annotations


import torch

from ..video_utils.core import parse
from ..video_utils.core.constants import (CONFORM_FIT_MODES, DEFAULT_CRF, DEFAULT_FIT, DEFAULT_PRESET,
                                          IMAGE_EXTENSIONS, LOSSLESS_SUFFIX, PRESETS, VIDEO_EXTENSIONS)
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import (PathError, check_relative, counter_path, expand_folders, image_paths,
                                        resolve_input, split_annotation, step_target)
from ..video_utils.core.probe import probe
from ..video_utils.core.recipe import check_choice
from ..video_utils.engine.audio_io import AudioClip, read_audio
from ..video_utils.engine.executor import Written, file_list, load_images
from ..video_utils.engine.video_read import iter_frames, read_last_frames
from ..video_utils.engine.video_write import LOSSLESS_CODEC, write_video
from .api import CATEGORY, Progress, folders, io, node_context
from .outputs import final_output, step_output
from .video_adapters import file_video, video_file_name
from .widgets import NAME_HELP, file_fingerprint, validated, video_output

WRITE_CHUNK = 8


def read_with_progress(path: str, start: int, end: int, info) -> torch.Tensor:
    """Frames [start, end) into one preallocated IMAGE, chunk by chunk with progress (and Cancel);
    ``info`` is the file's ``probe``: frames decode at its stored size."""
    out = torch.empty((end - start, info.stored_height, info.stored_width, 3), dtype=torch.float32)
    bar = Progress(end - start)
    done = 0
    for chunk in iter_frames(path, start=start, end=end, chunk=WRITE_CHUNK * 2):
        out[done:done + chunk.shape[0]] = chunk
        done += chunk.shape[0]
        bar(done, end - start)
    return out


def _check_images(images, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise PlanError(f"{name} must be an IMAGE batch [frames, H, W, 3], got {shape}")
    if images.shape[0] == 0:
        raise PlanError(f"{name} has no frames: connect the node that makes them")
    return images[..., :3]


class SegueLoadImages(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueLoadImages",
            display_name="Segue Load Images",
            category=CATEGORY,
            description="Load keyframe images by name, conformed to one Wan size (multiples of 16).",
            inputs=[
                io.String.Input("images", multiline=True, default="",
                                tooltip=f"One image per line, {NAME_HELP}; or a folder ending in '/' (e.g. "
                                        f"'shots/') for every image in it in name order (k2 before k10). "
                                        f"Order = keyframe order."),
                io.Int.Input("width", default=0, min=0, max=8192, step=16,
                             tooltip="Generation width (multiple of 16); 0 = the first image's size snapped to 16, "
                                     "or about 832x480 pixels at its shape when it is bigger (a 4000x3000 photo "
                                     "generates at 736x544; set the delivered size on the travel node)."),
                io.Int.Input("height", default=0, min=0, max=8192, step=16,
                             tooltip="Generation height (multiple of 16); 0 = automatic (see width)."),
                io.Combo.Input("fit", options=list(CONFORM_FIT_MODES), default=DEFAULT_FIT,
                               tooltip="Images of another shape: crop = fill and cut the edges (as WanVaceToVideo "
                                       "does), pad = show all with black bars, stretch = distort to fit."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="All images as one batch [N,H,W,3]."),
                io.Int.Output(display_name="width", tooltip="Width of the batch."),
                io.Int.Output(display_name="height", tooltip="Height of the batch."),
                io.Int.Output(display_name="count", tooltip="Number of images."),
            ],
        )

    @classmethod
    def validate_inputs(cls, images=None, fit=None):
        return validated(
            lambda: fit is None or check_choice(fit, CONFORM_FIT_MODES, "fit"),
            lambda: images is None or image_paths(images, folders()),
        )

    @classmethod
    def fingerprint_inputs(cls, images=None, **kwargs):
        try:
            names = expand_folders(parse.lines(images, "images", required=False), folders(), "images", IMAGE_EXTENSIONS)
        except PathError as e:
            return str(e)
        return file_fingerprint(names) if images else None

    @classmethod
    def execute(cls, images, width, height, fit) -> io.NodeOutput:
        batch = load_images(node_context(), images, width, height, fit)
        return io.NodeOutput(batch, int(batch.shape[2]), int(batch.shape[1]), int(batch.shape[0]))


class SegueLoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueLoadVideo",
            display_name="Segue Load Video",
            category=CATEGORY,
            description="Load a video file by name, decoding only the frames asked for "
                        "(last_frames seeks near the end instead of decoding the whole file).",
            inputs=[
                io.String.Input("video", default="", tooltip=f"Video file, {NAME_HELP}."),
                io.Int.Input("start", default=0, min=0, max=10_000_000,
                             tooltip="First frame to load (0 = the first frame of the file)."),
                io.Int.Input("frame_count", default=0, min=0, max=10_000_000,
                             tooltip="Frames to load from start; 0 = to the end of the file."),
                io.Int.Input("last_frames", default=0, min=0, max=10_000_000,
                             tooltip="> 0: load only the last K frames, by seeking (fast on long files); "
                                     "leave start and frame_count at 0 then."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The selected frames as IMAGE."),
                io.Float.Output(display_name="fps", tooltip="The file's frame rate."),
                io.Int.Output(display_name="total_frames", tooltip="Frames in the whole file."),
                io.Video.Output(display_name="video",
                                tooltip="The whole file as a lazy, file-backed VIDEO (nothing is decoded "
                                        "until a node reads it)."),
                io.Audio.Output(display_name="audio", tooltip="The file's audio, or None when it has none."),
            ],
        )

    @classmethod
    def validate_inputs(cls, video=None):
        return validated(
            lambda: video is None or resolve_input(video, folders(), "video", extensions=VIDEO_EXTENSIONS))

    @classmethod
    def fingerprint_inputs(cls, video=None, **kwargs):
        return file_fingerprint([video]) if video else None

    @classmethod
    def execute(cls, video, start, frame_count, last_frames) -> io.NodeOutput:
        path = resolve_input(video, folders(), "video", extensions=VIDEO_EXTENSIONS)
        info = probe(path)
        total = int(info.frame_count)
        if last_frames > 0:
            if start or frame_count:
                raise PlanError(f"last_frames={last_frames} cannot be combined with start/frame_count: set them to 0")
            if last_frames > total:
                raise PlanError(f"last_frames={last_frames} but {video!r} has only {total} frames: ask for at most {total}")
            images = read_last_frames(path, last_frames)
        else:
            if start >= total:
                raise PlanError(f"start={start} is past the end of {video!r} ({total} frames): use 0..{total - 1}")
            end = total if frame_count == 0 else start + frame_count
            if end > total:
                raise PlanError(
                    f"start={start} + frame_count={frame_count} = {end} but {video!r} has {total} frames: "
                    f"lower frame_count to {total - start} or use 0 (to the end)"
                )
            images = read_with_progress(path, start, end, info)
        clip = read_audio(path)
        audio = clip.as_comfy() if clip is not None else None
        return io.NodeOutput(images, float(info.fps), total, file_video(path), audio)


class SegueSaveSegment(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueSaveSegment",
            display_name="Segue Save Segment",
            category=CATEGORY,
            description="Save frames as an exactly lossless video at a fixed name (overwriting), so the "
                        "next segment and the stitch read them back bit-identical.",
            inputs=[
                io.Image.Input("images", tooltip="The generated frames."),
                io.String.Input("filename", default="segue/run/seg_000",
                                tooltip="Path under output/ WITHOUT extension, e.g. 'segue/run1/seg_000' -> "
                                        f"output/segue/run1/seg_000{LOSSLESS_SUFFIX}. Written exactly there "
                                        "(atomically, overwriting). Add ' [temp]' to write under temp/ instead."),
                io.Float.Input("fps", default=16.0, min=0.01, max=1000.0, step=0.01,
                               tooltip="Frame rate stored in the file (Wan generates at 16)."),
                io.Int.Input("trim_start", default=0, min=0, max=100_000,
                             tooltip="Frames dropped from the start before saving (a travel's segment-0 lead-in)."),
                io.Int.Input("expected_frames", default=0, min=0, max=10_000_000,
                             tooltip="> 0: fail unless exactly this many frames are saved (after trim_start), "
                                     "so a short generation never shifts the stitch."),
            ],
            outputs=[
                io.Video.Output(display_name="video", tooltip="The saved file as a lazy, file-backed VIDEO."),
            ],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, filename=None):
        return validated(
            lambda: filename is None or check_relative(split_annotation(filename, "output")[0], "filename"))

    @classmethod
    def execute(cls, images, filename, fps, trim_start, expected_frames) -> io.NodeOutput:
        images = _check_images(images, "images")
        if trim_start >= images.shape[0]:
            raise PlanError(f"trim_start={trim_start} drops all {images.shape[0]} frames: use a smaller trim_start")
        frames = images[trim_start:]
        if expected_frames and frames.shape[0] != expected_frames:
            raise PlanError(
                f"{filename!r}: planned {expected_frames} frames but got {frames.shape[0]} "
                f"({images.shape[0]} generated - {trim_start} trimmed): the generator returned the wrong "
                f"length (use a 4n+1 length and check the sampler chain)"
            )
        path, kind, relative = step_target(filename, "output", folders())
        count = int(frames.shape[0])
        write_video(path, frames, fps, codec=LOSSLESS_CODEC, progress=Progress(count))
        return step_output(Written(path, kind, relative, count))


class SegueSaveVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueSaveVideo",
            display_name="Segue Save Video",
            category=CATEGORY,
            description="Encode frames to an H.264 MP4 under output/ with a chosen quality (CRF), "
                        "counter-suffixed like core's savers.",
            inputs=[
                io.Image.Input("images", tooltip="Frames to encode."),
                io.Float.Input("fps", default=16.0, min=0.01, max=1000.0, step=0.01, tooltip="Frame rate."),
                io.String.Input("filename_prefix", default="segue/video",
                                tooltip="Prefix under output/; the file becomes <prefix>_00001_.mp4, _00002_ ..."),
                io.Int.Input("crf", default=DEFAULT_CRF, min=0, max=51,
                             tooltip="H.264 quality: lower = better and bigger (17-23 is typical; 0 = near lossless)."),
                io.Combo.Input("preset", options=list(PRESETS), default=DEFAULT_PRESET,
                               tooltip="x264 speed/size trade-off: slower presets make smaller files."),
                io.Audio.Input("audio", optional=True, tooltip="Optional soundtrack, muxed as AAC."),
            ],
            outputs=[video_output("saved video")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, filename_prefix=None, preset=None):
        return validated(
            lambda: preset is None or check_choice(preset, PRESETS, "preset"),
            lambda: filename_prefix is None or check_relative(filename_prefix, "filename_prefix"),
        )

    @classmethod
    def execute(cls, images, fps, filename_prefix, crf, preset, audio=None) -> io.NodeOutput:
        check_choice(preset, PRESETS, "preset")
        images = _check_images(images, "images")
        path, relative = counter_path(filename_prefix, "_.mp4", folders(), "filename_prefix")
        clip = AudioClip.from_comfy(audio) if audio is not None else None
        count = int(images.shape[0])
        write_video(path, images, fps, crf=crf, preset=preset, audio=clip, progress=Progress(count))
        return final_output(Written(path, "output", relative, count))


class SegueFileList(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueFileList",
            display_name="Segue File List",
            category=CATEGORY,
            description="Append a file-backed VIDEO's annotated name to a list (one per line) for "
                        "SegueStitchFiles / SegueJoinAssembleFiles; linking the list also makes them "
                        "run after every listed file is written.",
            inputs=[
                io.Video.Input("video", tooltip="A file-backed VIDEO (SegueSaveSegment, SegueLoadVideo, Load Video)."),
                io.String.Input("files", optional=True, multiline=True, force_input=True,
                                tooltip="The list so far (from another SegueFileList); empty starts a new list."),
            ],
            outputs=[io.String.Output(display_name="files", tooltip="The list with this video's name appended.")],
        )

    @classmethod
    def execute(cls, video, files=None) -> io.NodeOutput:
        return io.NodeOutput(file_list(video_file_name(video, "video"), files))


NODES = [SegueLoadImages, SegueLoadVideo, SegueSaveSegment, SegueSaveVideo, SegueFileList]
