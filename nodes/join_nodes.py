"""Joining clips with generated transitions: the streamed assembly of files, and the one-node
SegueJoinClips that normalises the clips, expands into per-join transition generation and
assembles the result."""

from __future__ import annotations

import uuid

import torch

from ..video_utils import video_io
from ..video_utils.chains import EncodeSettings, JoinStepSettings, SaveTo, Texts, join_graph
from ..video_utils.prompt_graph import Graph
from ..video_utils.constants import FILE_FOLDERS, LOSSLESS_SUFFIX, VIDEO_EXTENSIONS
from ..video_utils.errors import PlanError
from ..video_utils.join_assembly import assemble_join_files
from ..video_utils.join_plan import plan_join
from ..video_utils.resize import conform_frames
from ..video_utils.sizes import FIT_MODES, wan_size
from . import parse
from .api import CATEGORY, Progress, folders, io
from .expansion import EXPAND_HIDDEN, expand, no_lazy_inputs, recipe_sources
from .io_nodes import file_fingerprint, final_ui, size_inputs
from .paths import PathError, expand_folders, resolve_input, resolve_output, to_annotated
from .step_nodes import clip_paths, join_plan_from, join_setting_inputs, loop_input, per_join_check
from .stitch_nodes import (MAX_SEGMENT_INPUTS, as_fraction, blend_inputs, check_encode, collect_items,
                           encode_checks, encode_inputs, final_path, final_target_inputs, segment_inputs)
from .travel_nodes import images_or_blocker, keep_input, output_images_input, recipe_input
from .video_adapters import file_video, source_path, video_audio, video_info

CHUNK = 16


class SegueJoinAssembleFiles(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinAssembleFiles",
            display_name="Segue Join Assemble Files",
            category=CATEGORY,
            description="Assemble clips and their generated transitions (files) into one H.264 MP4, streamed, "
                        "frame-exact against the join plan; the first clip's audio is passed through.",
            inputs=[
                io.String.Input("clip_files", multiline=True, default="",
                                tooltip="The clips in order, one per line, relative to input/ or with ' [output]' / "
                                        "' [temp]'. All the same size."),
                io.String.Input("transition_files", multiline=True, default="",
                                tooltip="The generated transitions (lossless), one per join, in order. Can be linked "
                                        "from SegueFileList."),
                *join_setting_inputs(),
                io.Float.Input("fps", default=0.0, min=0.0, max=1000.0, step=0.01,
                               tooltip="Output frame rate; 0 = the first clip's."),
                *final_target_inputs("segue/join/final"),
                *encode_inputs(),
                io.Boolean.Input("keep_audio", default=True,
                                 tooltip="Pass the first clip's audio through to the result."),
                *blend_inputs(optional=True),
                loop_input(),
                io.Video.Input("after", optional=True,
                               tooltip="Optional: any VIDEO this node must wait for, only to order the run."),
            ],
            outputs=[io.Video.Output(display_name="video", tooltip="The joined MP4 as a file-backed VIDEO.")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, per_join=None, preset=None, curve=None, filename=None, filename_prefix=None):
        return parse.validated(*encode_checks(preset, curve, filename, filename_prefix), per_join_check(per_join))

    @classmethod
    def fingerprint_inputs(cls, clip_files=None, transition_files=None, **kwargs):
        names = parse.lines(clip_files, "clip_files", required=False) if clip_files else []
        names += parse.lines(transition_files, "transition_files", required=False) if transition_files else []
        return file_fingerprint(names)

    @classmethod
    def execute(cls, clip_files, transition_files, context, gap, replace, blend, per_join, fps, filename, crf,
                preset, keep_audio, filename_prefix="", curve="cosine", sharpen=0.0, loop=False,
                after=None) -> io.NodeOutput:
        check_encode(preset, curve, filename, filename_prefix)
        clip_names, clips = clip_paths(clip_files)
        transitions = [resolve_input(n, folders(), "transition_files")
                       for n in parse.lines(transition_files, "transition_files")]
        plan = join_plan_from(clips, clip_names, context, gap, replace, blend, per_join, loop)
        rate = as_fraction(fps) if fps > 0 else video_io.probe_video(clips[0]).fps
        audio = video_io.read_audio(clips[0]) if keep_audio else None
        out_path, kind, relative = final_path(filename, filename_prefix)
        written = assemble_join_files(clips, transitions, plan, out_path, fps=rate, audio=audio, curve=curve,
                                      sharpen=float(sharpen), crf=int(crf), preset=preset, progress=Progress(1))
        return io.NodeOutput(file_video(out_path), ui=final_ui(relative, kind, written))


def _write_conformed(chunks, path: str, width: int, height: int, fit: str, fps, audio, total: int) -> int:
    """Stream ``chunks`` through conform_frames into a lossless file; returns frames written."""
    bar = Progress(total)
    written = 0
    with video_io.VideoWriter(path, fps, width, height, codec=video_io.LOSSLESS_CODEC, audio=audio) as writer:
        for chunk in chunks:
            frames = conform_frames(chunk[..., :3], width, height, fit)
            writer.write(frames)
            written += int(frames.shape[0])
            bar(written, total)
    return written


def _selected_chunks(video_or_images, indices: list[int]):
    """Chunks of the frames at ``indices`` (sorted, may repeat) of a VIDEO or IMAGE batch."""
    if isinstance(video_or_images, torch.Tensor):
        for i in range(0, len(indices), CHUNK):
            yield video_or_images[indices[i:i + CHUNK]]
        return
    path = source_path(video_or_images)
    source = (video_io.iter_frames(path, chunk=CHUNK) if path is not None
              else iter([video_or_images.get_components().images]))
    want = iter(enumerate(indices))
    nxt = next(want, None)
    pending, offset = [], 0
    for chunk in source:
        while nxt is not None and nxt[1] < offset + chunk.shape[0]:
            pending.append(chunk[nxt[1] - offset])
            nxt = next(want, None)
            if len(pending) == CHUNK:
                yield torch.stack(pending)
                pending = []
        offset += chunk.shape[0]
        if nxt is None:
            break
    if pending:
        yield torch.stack(pending)


class ClipSource:
    """How one clip reaches the assembly: a matching file used in place (``name``), or frames
    ``indices`` of ``item`` to rewrite losslessly at the join's size and rate."""

    def __init__(self, item, label: str, width: int, height: int, rate):
        self.item, self.label, self.name, self.indices = item, label, None, None
        if isinstance(item, torch.Tensor):
            if item.dim() != 4 or item.shape[0] == 0:
                raise PlanError(f"{label} must be a non-empty IMAGE batch [frames,H,W,3] or a VIDEO")
            count, src_rate, size = int(item.shape[0]), rate, (int(item.shape[2]), int(item.shape[1]))
            path = None
        else:
            info = video_info(item)
            count, src_rate, size = info.frame_count, info.fps, (info.width, info.height)
            path = source_path(item)
        if path is not None and size == (width, height) and src_rate == rate:
            try:
                self.name, self.count = to_annotated(path, folders()), count
                return
            except PathError:
                pass  # a file outside ComfyUI's folders: rewrite it into the run folder
        self.indices = parse.frame_selection(count, float(src_rate), float(rate))
        self.count = len(self.indices)

    def materialise(self, index: int, width: int, height: int, fit: str, rate, kind: str, keep_audio: bool) -> str:
        """The clip's annotated name, writing the conformed copy first when needed (a fresh name:
        nothing a cached result points at is overwritten)."""
        if self.name is not None:
            return self.name
        out_path, _, relative = resolve_output(f"segue/clips/{uuid.uuid4().hex}_{index:03d} [{kind}]", folders(),
                                               self.label, suffix=LOSSLESS_SUFFIX)
        audio = None
        if index == 0 and keep_audio and not isinstance(self.item, torch.Tensor):
            comfy_audio = video_audio(self.item)
            audio = video_io.AudioClip.from_comfy(comfy_audio) if comfy_audio is not None else None
        written = _write_conformed(_selected_chunks(self.item, self.indices), out_path, width, height, fit, rate,
                                   audio, self.count)
        if written != self.count:
            raise PlanError(f"{self.label}: wrote {written} frames but {self.count} were selected: the clip is damaged")
        self.name = f"{relative} [{kind}]"
        return self.name


class SegueJoinClips(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinClips",
            display_name="Segue Join Clips",
            category=CATEGORY,
            description="Join clips with generated transitions in one node: every join's transition is generated by "
                        "the recipe from both clips' context, and everything is assembled into one MP4 with the "
                        "first clip's audio. Memory stays flat however many clips.",
            inputs=[
                io.String.Input("clip_files", multiline=True, default="", optional=True,
                                tooltip="Any number of clips by name instead of the clip_N inputs: one file per line "
                                        "(relative to input/, or with ' [output]'), or a folder ending in '/' for "
                                        "every video in it in name order."),
                *segment_inputs("clip", MAX_SEGMENT_INPUTS, "Clip (or list them in clip_files)", required=0),
                recipe_input(),
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="What happens in the transitions: one line per join; fewer lines repeat the last."),
                io.String.Input("negative_prompt", multiline=True, default="", tooltip="What to avoid."),
                *join_setting_inputs(),
                io.Boolean.Input("bridging", default=False,
                                 tooltip="Also keep A's last and B's first frame at 1/3 and 2/3 of long gaps."),
                loop_input(),
                *size_inputs("clip"),
                io.Float.Input("fps", default=0.0, min=0.0, max=1000.0, step=0.01,
                               tooltip="Output frame rate; 0 = the first clip's (16 for IMAGE clips). Clips at "
                                       "another rate are resampled by repeating/dropping frames (no interpolation), "
                                       "keeping their duration."),
                *blend_inputs(),
                io.String.Input("filename_prefix", default="segue/join",
                                tooltip="The MP4 goes to output/<prefix>_NNNNN_.mp4 (a new number per run)."),
                keep_input(),
                *encode_inputs(),
                io.Boolean.Input("keep_audio", default=True, tooltip="Pass the first clip's audio through."),
                output_images_input("result"),
            ],
            outputs=[
                io.Video.Output(display_name="video", tooltip="The joined MP4 as a file-backed VIDEO."),
                io.Image.Output(display_name="images", tooltip="The result as IMAGE; only when output_images is on."),
            ],
            hidden=EXPAND_HIDDEN,
            enable_expand=True,
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, per_join=None, preset=None, curve=None, fit=None, filename_prefix=None):
        return parse.validated(*encode_checks(preset, curve, filename_prefix=filename_prefix), per_join_check(per_join),
                               lambda: fit is None or parse.check_choice(fit, FIT_MODES, "fit"))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, context, gap, replace, blend, per_join, bridging, width, height, fit, fps, prompt,
                negative_prompt, curve, sharpen, filename_prefix, keep_segments, crf, preset, keep_audio,
                output_images, recipe=None, loop=False, clip_files="", **kwargs) -> io.NodeOutput:
        check_encode(preset, curve, filename_prefix=filename_prefix)
        parse.check_choice(fit, FIT_MODES, "fit")
        if bool(width) != bool(height):
            raise PlanError(f"width={width}, height={height}: give both, or 0 for both to use the first clip's size")
        items = collect_items(kwargs, "clip", "the clips")
        if str(clip_files or "").strip():
            if items:
                raise PlanError("clip_files and clip_N inputs are both given: list the clips in clip_files or "
                                "connect them, not both")
            names = expand_folders(parse.lines(clip_files, "clip_files"), folders(), "clip_files", VIDEO_EXTENSIONS)
            items = [file_video(resolve_input(n, folders(), "clip_files", extensions=VIDEO_EXTENSIONS)) for n in names]
        if len(items) < (1 if loop else 2):
            raise PlanError("joining needs at least two clips: connect clip_1 and clip_2 or list them in clip_files "
                            "(one clip is enough with loop on)")
        overrides = parse.per_join_overrides(per_join)
        first = items[0]
        if isinstance(first, torch.Tensor):
            first_size, first_rate = (int(first.shape[2]), int(first.shape[1])), None
        else:
            info = video_info(first)
            first_size, first_rate = (info.width, info.height), info.fps
        rate = as_fraction(fps) if fps > 0 else (first_rate or as_fraction(16.0))
        w, h = wan_size(width, height) if width and height else wan_size(*first_size)
        # Everything that can fail on the settings fails before any file is written.
        joins = len(items) if loop else len(items) - 1
        recipe, sources = recipe_sources(cls, recipe, "SegueJoinClips")
        recipe.check_items(joins, "joins")
        texts = Texts(tuple(parse.per_segment_text(prompt, joins, "prompt")), (str(negative_prompt or ""),) * joins)
        sources_of_clips = [ClipSource(item, f"clip_{k + 1}", w, h, rate) for k, item in enumerate(items)]
        plan_join([s.count for s in sources_of_clips], context=int(context), gap=int(gap), replace=bool(replace),
                  blend=None if blend < 0 else int(blend), per_join=overrides,
                  clip_names=[s.label for s in sources_of_clips], loop=bool(loop))
        folder = FILE_FOLDERS[1] if keep_segments else FILE_FOLDERS[0]
        names = [s.materialise(k, w, h, fit, rate, folder, bool(keep_audio)) for k, s in enumerate(sources_of_clips)]
        g = Graph()
        settings = JoinStepSettings(int(context), int(gap), bool(replace), int(blend), str(per_join or ""),
                                    bool(bridging), w, h, fit, bool(loop))
        video = join_graph(g, settings, joins, recipe, sources, texts, names, [SaveTo("", folder)] * joins,
                           EncodeSettings(curve, float(sharpen), int(crf), preset, filename_prefix=filename_prefix),
                           float(rate), bool(keep_audio))
        images = images_or_blocker(g, video, output_images, "SegueJoinClips")
        (video, images), expansion = expand(g, video, images)
        return io.NodeOutput(video, images, expand=expansion)


NODES = [SegueJoinAssembleFiles, SegueJoinClips]
