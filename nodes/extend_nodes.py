"""Extending a clip: new frames generated after its end, optionally landing on keyframe images.

``SegueExtendStep`` describes one segment of the extension (a STEP for the encoders and savers:
the video so far's last frames kept, the leg's keyframe at its end); ``SegueExtendAssemble``
writes the clip's own frames followed by every segment's new frames into one H.264 MP4,
streamed; ``SegueExtendClip`` is the whole thing in one node, expanded by
``video_utils.chains.extend_graph`` (the builder the orchestrator uses too).  All three plan
with ``plan_extend`` from the same settings, so steps and assembly always agree.
"""

from __future__ import annotations

from ..video_utils.chains import EncodeSettings, ExtendStepSettings, SaveTo, Texts, extend_graph
from ..video_utils.constants import DEFAULT_EXTEND_FRAMES, DEFAULT_OVERLAP, FILE_FOLDERS, VIDEO_EXTENSIONS
from ..video_utils.errors import PlanError
from ..video_utils.extend_assembly import assemble_extend_files, extend_format, extend_soundtrack
from ..video_utils.extend_plan import ExtendPlan, plan_extend
from ..video_utils.guides import OverlapAdjust
from ..video_utils.lengths import DEFAULT_MAX_GENERATION, MAX_GENERATION_FRAMES, MIN_WAN_LENGTH
from ..video_utils.prompt_graph import Graph
from ..video_utils.retime import conformed_frame_count
from ..video_utils.step_guides import ExtendStep
from ..video_utils.video_read import read_last_frames
from . import parse
from .api import CATEGORY, STEP, Progress, advanced, folders, io
from .expansion import EXPAND_HIDDEN, check_step, check_steps_memory, expand, no_lazy_inputs, node_links, recipe_sources
from .guide_nodes import adjust_inputs
from .io_nodes import NAME_HELP, file_fingerprint, final_ui, prefix_folder
from .paths import check_relative, resolve_input
from .step_nodes import STEP_HELP, file_of
from .stitch_nodes import blend_inputs, check_encode, encode_checks, encode_inputs, final_path, final_target_inputs
from .travel_nodes import images_or_blocker, keep_input, output_images_input, recipe_input, video_images_outputs
from .video_adapters import file_video, video_file_name

KEEP_AUDIO_HELP = ("Keep the clip's sound, under its own pictures and resampled to 48 kHz stereo as a join's clips "
                   "are; the new frames are silent (the sound track lasts as long as the video).")


def extend_setting_inputs() -> list:
    """The settings every extend node plans with (SegueExtendStep, SegueExtendAssemble, SegueExtendClip)."""
    return advanced([
        io.String.Input("frames", default=str(DEFAULT_EXTEND_FRAMES),
                        tooltip="How many new frames to add after the clip, counted at Wan's 16 fps (48 = 3 s; "
                                "the video gets as many seconds at the clip's rate: 90 frames at 30 fps). With "
                                "keyframes: one total (split evenly between them) or one number per keyframe "
                                "('40, 32'), plus an optional last number for frames after the last keyframe "
                                "('40, 32, 16')."),
        io.Int.Input("overlap", default=DEFAULT_OVERLAP, min=1, max=MAX_GENERATION_FRAMES,
                     tooltip="How many of the video's last frames (at 16 fps) each new segment sees and continues "
                             "(the model re-creates them; the video keeps the originals). More = smoother motion, "
                             "fewer new frames per generation."),
        io.Int.Input("max_generation", default=DEFAULT_MAX_GENERATION, min=MIN_WAN_LENGTH, max=MAX_GENERATION_FRAMES,
                     tooltip="Longest single generation in frames, overlap included (81 for Wan). Longer extensions "
                             "are split into several segments automatically."),
        io.Int.Input("blend", default=0, min=0, max=MAX_GENERATION_FRAMES, optional=True,
                     tooltip="0 = a plain cut after the clip (its frames stay untouched). N > 0 cross-fades the last "
                             "N frames (at 16 fps) before each segment into the model's version of them, hiding a "
                             "small jump (this changes the clip's last frames). At most the overlap."),
    ], "max_generation", "blend")


def extend_checks(frames=None, clip_file=None) -> list:
    return [
        lambda: frames is None or parse.int_list(frames, "frames", minimum=1),
        lambda: not clip_file or resolve_input(clip_file, folders(), "clip_file", extensions=VIDEO_EXTENSIONS),
    ]


def extend_plan_from(clip_path: str, frames, overlap, keyframe_count: int, max_generation, blend) -> ExtendPlan:
    """The extension plan of these widget values for the clip file ``clip_path`` at its output rate
    (``extend_format``; SegueExtendStep, SegueExtendAssemble and SegueExtendClip all plan with
    this, so the segments and the assembly agree)."""
    legs = parse.scalar_or_list(parse.int_list(frames, "frames", minimum=1))
    fmt = extend_format(clip_path)
    return plan_extend(conformed_frame_count(clip_path, fmt.fps), legs, overlap=int(overlap),
                       keyframe_count=int(keyframe_count), max_generation=int(max_generation), blend=int(blend),
                       generation_fps=fmt.generation_fps, output_fps=fmt.fps)


def clip_input_path(clip_file: str) -> str:
    return resolve_input(clip_file, folders(), "clip_file", extensions=VIDEO_EXTENSIONS)


class SegueExtendStep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueExtendStep",
            display_name="Segue Extend Step",
            category=CATEGORY,
            description="One segment of extending a clip, as a step for the encoders: the video so far's last "
                        "frames are kept at its start and, when it ends a leg, the keyframe at its end. The frames "
                        "are read from the files only when the segment is generated (bounded memory).",
            inputs=[
                io.String.Input("clip_file", default="",
                                tooltip=f"The clip to extend, {NAME_HELP}."),
                io.Int.Input("segment_index", default=0, min=0, max=10_000,
                             tooltip="Which segment: 0 continues the clip, 1 continues segment 0, ... (long "
                                     "extensions have several)."),
                *extend_setting_inputs(),
                io.Image.Input("keyframes", optional=True,
                               tooltip="Optional images the extension should arrive at, in order (Segue Load "
                                       "Images): each leg ends exactly on its keyframe. None = a free end."),
                io.String.Input("previous_files", multiline=True, default="", optional=True,
                                tooltip="Segments after the first: the earlier segments' files in order, one per "
                                        "line (link a Segue File List); only their last overlap frames are read."),
                io.Video.Input("previous_video", optional=True,
                               tooltip="Instead of previous_files: just the previous segment's video (enough when "
                                       "its new frames cover the overlap)."),
                *adjust_inputs(),
            ],
            outputs=[STEP.Output(display_name="step", tooltip=STEP_HELP)],
        )

    @classmethod
    def validate_inputs(cls, frames=None, clip_file=None):
        return parse.validated(*extend_checks(frames, clip_file))

    @classmethod
    def fingerprint_inputs(cls, clip_file=None, **kwargs):
        return file_fingerprint([clip_file]) if clip_file else None

    @classmethod
    def execute(cls, clip_file, segment_index, frames, overlap, max_generation, blend=0, keyframes=None,
                previous_files="", previous_video=None, strength=1.0, desaturate=0.0, darken=0.0) -> io.NodeOutput:
        names = parse.lines(previous_files, "previous_files", required=False)
        if names and previous_video is not None:
            raise PlanError("previous_files and previous_video are both connected: connect one (previous_files "
                            "lists every earlier segment)")
        previous = [resolve_input(n, folders(), "previous_files", extensions=VIDEO_EXTENSIONS) for n in names]
        if previous_video is not None:
            previous = [file_of(previous_video, "previous_video")]
        clip_path = clip_input_path(clip_file)
        count = int(keyframes.shape[0]) if keyframes is not None else 0
        plan = extend_plan_from(clip_path, frames, overlap, count, max_generation, blend)
        return io.NodeOutput(check_step(ExtendStep(plan, int(segment_index), clip_path, previous, keyframes,
                                                   OverlapAdjust(float(strength), float(desaturate),
                                                                 float(darken)))))


class SegueExtendAssemble(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueExtendAssemble",
            display_name="Segue Extend Assemble",
            category=CATEGORY,
            description="Write the clip's own frames followed by every extension segment's new frames into one "
                        "H.264 MP4 at the clip's size as displayed (a portrait phone clip upright) and its frame "
                        "rate, streamed (bounded RAM), keeping the clip's sound. The new frames, generated at "
                        "16 fps at the working size, are retimed and scaled to the clip's rate and size.",
            inputs=[
                io.String.Input("clip_file", default="", tooltip=f"The clip that was extended, {NAME_HELP}."),
                io.String.Input("segment_files", multiline=True, default="",
                                tooltip="The generated segments' files in order, one per line (link the last "
                                        "Segue File List)."),
                *extend_setting_inputs(),
                io.Int.Input("keyframe_count", default=0, min=0, max=10_000,
                             tooltip="How many keyframe images the segments were made with (0 = none): the plan "
                                     "depends on it."),
                *final_target_inputs("segue/extend/final"),
                *encode_inputs(),
                io.Boolean.Input("keep_audio", default=True,
                                 tooltip=KEEP_AUDIO_HELP),
                *blend_inputs(optional=True),
                io.Video.Input("after", optional=True,
                               tooltip="Optional: any VIDEO this node must wait for, only to order the run."),
            ],
            outputs=[io.Video.Output(display_name="video", tooltip="The extended clip as a file-backed MP4 VIDEO.")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, frames=None, clip_file=None, preset=None, curve=None, filename=None,
                        filename_prefix=None):
        return parse.validated(*extend_checks(frames, clip_file), *encode_checks(preset, curve, filename,
                                                                                 filename_prefix))

    @classmethod
    def fingerprint_inputs(cls, clip_file=None, segment_files=None, **kwargs):
        names = [clip_file] if clip_file else []
        names += parse.lines(segment_files, "segment_files", required=False) if segment_files else []
        return file_fingerprint(names)

    @classmethod
    def execute(cls, clip_file, segment_files, frames, overlap, max_generation, keyframe_count, filename, crf,
                preset, keep_audio, blend=0, filename_prefix="", curve="cosine", sharpen=0.0,
                after=None) -> io.NodeOutput:
        check_encode(preset, curve, filename, filename_prefix)
        clip_path = clip_input_path(clip_file)
        segments = [resolve_input(n, folders(), "segment_files", extensions=VIDEO_EXTENSIONS)
                    for n in parse.lines(segment_files, "segment_files")]
        plan = extend_plan_from(clip_path, frames, overlap, keyframe_count, max_generation, blend)
        audio = extend_soundtrack(clip_path, plan) if keep_audio else None
        out_path, kind, relative = final_path(filename, filename_prefix)
        written = assemble_extend_files(clip_path, segments, plan, out_path, audio=audio, curve=curve,
                                        sharpen=float(sharpen), crf=int(crf), preset=preset, progress=Progress(1))
        return io.NodeOutput(file_video(out_path), ui=final_ui(relative, kind, written))


def clip_name(clip, clip_file: str) -> str:
    """The annotated name of the clip to extend: the VIDEO's file (or a copy of exactly its frames and
    sound: a trimmed or in-memory VIDEO), or ``clip_file``."""
    if clip is not None and str(clip_file or "").strip():
        raise PlanError("clip and clip_file are both given: connect the clip or type its file name, not both")
    if clip is None:
        if not str(clip_file or "").strip():
            raise PlanError("no clip: connect a VIDEO (Load Video / Segue Load Video) or give clip_file")
        clip_input_path(clip_file)
        return str(clip_file).strip()
    return video_file_name(clip, "clip")


class SegueExtendClip(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueExtendClip",
            display_name="Segue Extend Clip",
            category=CATEGORY,
            description="Make a clip longer in one node: new frames continue from its end (optionally arriving at "
                        "keyframe images), generated by the recipe in as many segments as needed, then the clip "
                        "and the new frames are written into one MP4 with the clip's sound, at its size as displayed "
                        "and its frame rate. The clip's own frames are only conformed (a portrait phone clip "
                        "upright, a variable-rate clip by its timestamps). Memory stays flat however long the "
                        "extension.",
            inputs=[
                io.Video.Input("clip", optional=True,
                               tooltip="The clip to extend, from Load Video or Segue Load Video (a file inside "
                                       "ComfyUI's input/output/temp folders). Or leave it and type clip_file."),
                io.String.Input("clip_file", default="", optional=True,
                                tooltip=f"Instead of clip: the clip's file name, {NAME_HELP}."),
                *extend_setting_inputs(),
                io.Image.Input("keyframes", optional=True,
                               tooltip="Optional images the extension should arrive at, in order (Segue Load "
                                       "Images): the video lands exactly on each one. None = the model decides "
                                       "how it ends."),
                recipe_input(),
                io.String.Input("prompts", multiline=True, default="",
                                tooltip="What happens in the new frames: one line per segment; fewer lines repeat "
                                        "the last (one line is enough)."),
                io.String.Input("negative_prompt", multiline=True, default="", tooltip="What to avoid."),
                *adjust_inputs(),
                *blend_inputs(optional=True),
                io.String.Input("filename_prefix", default="segue/extend",
                                tooltip="The MP4 goes to output/<prefix>_NNNNN_.mp4 (a new number per run)."),
                keep_input(),
                *encode_inputs(),
                io.Boolean.Input("keep_audio", default=True, optional=True,
                                 tooltip=KEEP_AUDIO_HELP),
                output_images_input("extended clip"),
            ],
            outputs=video_images_outputs("extended clip"),
            hidden=EXPAND_HIDDEN,
            enable_expand=True,
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, frames=None, clip_file=None, preset=None, curve=None, filename_prefix=None):
        return parse.validated(*extend_checks(frames, clip_file), *encode_checks(preset, curve),
                               lambda: filename_prefix is None or check_relative(filename_prefix, "filename_prefix"))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, frames, overlap, max_generation, prompts, negative_prompt, filename_prefix, keep_segments, crf,
                preset, output_images, clip=None, clip_file="", blend=0, keyframes=None, recipe=None, strength=1.0,
                desaturate=0.0, darken=0.0, curve="cosine", sharpen=0.0, keep_audio=True) -> io.NodeOutput:
        check_encode(preset, curve, sharpen=sharpen)
        prefix_folder(filename_prefix, "filename_prefix")
        name = clip_name(clip, clip_file)
        count = int(keyframes.shape[0]) if keyframes is not None else 0
        path = clip_input_path(name)
        read_last_frames(path, 1)    # a truncated clip fails now, not after the extension is generated
        plan = extend_plan_from(path, frames, overlap, count, max_generation, blend)
        fmt = extend_format(path)
        check_steps_memory(fmt.work_width, fmt.work_height, [s.generate_frames for s in plan.segments],
                           "extension segment")
        segments = len(plan.segments)
        recipe, sources = recipe_sources(cls, recipe, "SegueExtendClip")
        recipe.check_items(segments)
        folder = FILE_FOLDERS[1] if keep_segments else FILE_FOLDERS[0]
        settings = ExtendStepSettings(str(frames), int(overlap), int(max_generation), int(blend), float(strength),
                                      float(desaturate), float(darken))
        texts = Texts(tuple(parse.per_segment_text(prompts, segments, "prompts")),
                      (parse.prompt_text(negative_prompt, "negative_prompt"),) * segments)
        g = Graph()
        video = extend_graph(
            g, settings, segments, recipe, sources, texts, name,
            node_links(cls).get("keyframes") if keyframes is not None else None, count, [SaveTo("", folder)] * segments,
            EncodeSettings(curve, float(sharpen), int(crf), preset, filename_prefix=filename_prefix), bool(keep_audio))
        images = images_or_blocker(g, video, output_images, "SegueExtendClip")
        (video, images), expansion = expand(g, video, images)
        return io.NodeOutput(video, images, expand=expansion)


NODES = [SegueExtendStep, SegueExtendAssemble, SegueExtendClip]
