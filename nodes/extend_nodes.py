"""Extending a clip: new frames generated after its end, optionally landing on keyframe images.

``SegueExtendStep`` describes one segment of the extension (a STEP for the encoders and savers:
the video so far's last frames kept, the leg's keyframe at its end); ``SegueExtendAssemble``
writes the clip's own frames followed by every segment's new frames into one H.264 MP4,
streamed; ``SegueExtendClip`` is the whole thing in one node, expanded by
``video_utils.core.chains.extend_graph`` (the builder the orchestrator uses too).  All three plan
with ``plan_extend`` from the same settings, so steps and assembly always agree.
"""

from __future__ import annotations

from ..video_utils.core import parse
from ..video_utils.core.chains import SaveTo, Texts, extend_graph
from ..video_utils.core.constants import DEFAULT_CURVE
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import check_relative
from ..video_utils.core.lengths import check_step_memory
from ..video_utils.core.output_format import extend_format
from ..video_utils.core.prompt_graph import Graph
from ..video_utils.core.step_settings import ExtendStepSettings
from ..video_utils.engine.executor import assemble_extended_file, clip_input, extend_step_node
from ..video_utils.engine.video_read import read_last_frames
from .api import CATEGORY, STEP, io, node_context
from .expansion import EXPANDING, expanded_video, no_lazy_inputs, node_links, one_node_run
from .outputs import final_output
from .video_adapters import file_of, video_file_name
from .widgets import (KEEP_AUDIO_HELP, NAME_HELP, STEP_HELP, adjust_inputs, after_input, blend_inputs, encode_checks,
                      encode_inputs, extend_checks, extend_setting_inputs, file_fingerprint, files_input,
                      final_target_inputs, keep_input, output_images_input, recipe_input, validated,
                      video_images_outputs, video_output)


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
        return validated(*extend_checks(frames, clip_file))

    @classmethod
    def fingerprint_inputs(cls, clip_file=None, **kwargs):
        return file_fingerprint([clip_file]) if clip_file else None

    @classmethod
    def execute(cls, clip_file, segment_index, previous_files="", previous_video=None, keyframes=None,
                **settings) -> io.NodeOutput:
        return io.NodeOutput(extend_step_node(node_context(), clip_file, segment_index, keyframes, previous_files,
                                              file_of(previous_video, "previous_video"), **settings))


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
                files_input("segment_files", "The generated segments' files", linked=True),
                *extend_setting_inputs(),
                io.Int.Input("keyframe_count", default=0, min=0, max=10_000,
                             tooltip="How many keyframe images the segments were made with (0 = none): the plan "
                                     "depends on it."),
                *final_target_inputs("segue/extend/final"),
                *encode_inputs(),
                io.Boolean.Input("keep_audio", default=True,
                                 tooltip=KEEP_AUDIO_HELP),
                *blend_inputs(optional=True),
                after_input(),
            ],
            outputs=[video_output("extended clip")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, frames=None, clip_file=None, preset=None, curve=None, filename=None,
                        filename_prefix=None):
        return validated(*extend_checks(frames, clip_file), *encode_checks(preset, curve, filename,
                                                                                 filename_prefix))

    @classmethod
    def fingerprint_inputs(cls, clip_file=None, segment_files=None, **kwargs):
        names = [clip_file] if clip_file else []
        names += parse.lines(segment_files, "segment_files", required=False) if segment_files else []
        return file_fingerprint(names)

    @classmethod
    def execute(cls, **inputs) -> io.NodeOutput:
        return final_output(assemble_extended_file(node_context(), **inputs))


def clip_name(clip, clip_file: str) -> str:
    """The annotated name of the clip to extend: the VIDEO's file (or a copy of exactly its frames and
    sound: a trimmed or in-memory VIDEO), or ``clip_file``."""
    if clip is not None and str(clip_file or "").strip():
        raise PlanError("clip and clip_file are both given: connect the clip or type its file name, not both")
    if clip is None:
        if not str(clip_file or "").strip():
            raise PlanError("no clip: connect a VIDEO (Load Video / Segue Load Video) or give clip_file")
        clip_input(node_context(), clip_file)
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
            **EXPANDING,
        )

    @classmethod
    def validate_inputs(cls, frames=None, clip_file=None, preset=None, curve=None, filename_prefix=None):
        return validated(*extend_checks(frames, clip_file), *encode_checks(preset, curve),
                               lambda: filename_prefix is None or check_relative(filename_prefix, "filename_prefix"))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, frames, overlap, max_generation, prompts, negative_prompt, filename_prefix, keep_segments, crf,
                preset, output_images, clip=None, clip_file="", blend=0, keyframes=None, recipe=None, strength=1.0,
                desaturate=0.0, darken=0.0, curve=DEFAULT_CURVE, sharpen=0.0, keep_audio=True) -> io.NodeOutput:
        name = clip_name(clip, clip_file)
        count = int(keyframes.shape[0]) if keyframes is not None else 0
        path = clip_input(node_context(), name)
        read_last_frames(path, 1)    # a truncated clip fails now, not after the extension is generated
        settings = ExtendStepSettings(str(frames), int(overlap), int(max_generation), int(blend), float(strength),
                                      float(desaturate), float(darken))
        plan = settings.plan(path, count)
        fmt = extend_format(path)
        check_step_memory(fmt.work_width, fmt.work_height, [s.generate_frames for s in plan.segments],
                          "extension segment")
        segments = len(plan.segments)
        run = one_node_run(cls, "SegueExtendClip", recipe, segments, "segments", curve=curve, sharpen=sharpen,
                           crf=crf, preset=preset, filename_prefix=filename_prefix, keep_segments=keep_segments)
        texts = Texts(tuple(parse.per_segment_text(prompts, segments, "prompts")),
                      (parse.prompt_text(negative_prompt, "negative_prompt"),) * segments)
        g = Graph()
        video = extend_graph(g, settings, segments, run.recipe, run.sources, texts, name,
                             node_links(cls).get("keyframes") if keyframes is not None else None, count,
                             [SaveTo("", run.folder)] * segments, run.encode, bool(keep_audio))
        return expanded_video(g, video, output_images, "SegueExtendClip")


NODES = [SegueExtendStep, SegueExtendAssemble, SegueExtendClip]
