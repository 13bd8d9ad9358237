"""Joining clips with generated transitions: the streamed assembly of files, and the one-node
SegueJoinClips that expands into per-join transition generation and the assembly.

Real footage goes in as it is: the clips' own files are read through the one conform stage
(``video_utils.engine.conform``: rotation, size and fit, frame rate) where they are used, so pictures
that are not regenerated reach the output at the output size without a detour through the
generation size; transitions are generated at the working size and rate and scaled/retimed to
the output.  Every clip's sound plays under its own pictures.
"""

from __future__ import annotations

import uuid

import torch

from ..video_utils.core import parse
from ..video_utils.core.chains import SaveTo, Texts, join_graph
from ..video_utils.core.constants import (DEFAULT_GAP_AUDIO, DEFAULT_JOIN_PROMPT, DEFAULT_RETIME, GENERATION_FPS,
                                          LOSSLESS_SUFFIX, VIDEO_EXTENSIONS)
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import expand_folders, resolve_input, resolve_output
from ..video_utils.core.join_plan import join_count
from ..video_utils.core.lengths import check_step_memory
from ..video_utils.core.prompt_graph import Graph
from ..video_utils.core.step_settings import JoinStepSettings
from ..video_utils.engine.executor import assemble_joined_files
from ..video_utils.engine.video_write import LOSSLESS_CODEC, VideoWriter
from .api import CATEGORY, advanced, folders, io, node_context
from .expansion import EXPANDING, expanded_video, no_lazy_inputs, one_node_run
from .outputs import final_output
from .video_adapters import file_video, video_file_name
from .widgets import (MAX_SEGMENT_INPUTS, after_input, blend_inputs, collect_items, encode_checks, encode_inputs,
                      file_fingerprint, files_input, final_target_inputs, format_checks, format_inputs,
                      join_setting_inputs, keep_input, loop_input, output_images_input, per_join_check, recipe_input,
                      segment_inputs, sound_inputs, validated, video_output)

CHUNK = 16


class SegueJoinAssembleFiles(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinAssembleFiles",
            display_name="Segue Join Assemble Files",
            category=CATEGORY,
            description="Assemble clips and their generated transitions (files) into one H.264 MP4, streamed and "
                        "frame-exact against the join plan: clips conformed to the output size and rate, "
                        "transitions retimed and scaled to them, every clip's sound under its own pictures.",
            inputs=[
                files_input("clip_files", "The clips (any sizes, rates and rotations)"),
                files_input("transition_files", "The generated transitions (lossless), one per join", linked=True),
                *join_setting_inputs(),
                *format_inputs("clip", working=False),
                *final_target_inputs("segue/join/final"),
                *encode_inputs(),
                *sound_inputs(),
                *blend_inputs(optional=True),
                loop_input(),
                after_input(),
            ],
            outputs=[video_output("joined video")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, per_join=None, preset=None, curve=None, filename=None, filename_prefix=None, fit=None,
                        gap_audio=None, retime=None):
        return validated(*encode_checks(preset, curve, filename, filename_prefix), per_join_check(per_join),
                               *format_checks(fit, gap_audio, retime))

    @classmethod
    def fingerprint_inputs(cls, clip_files=None, transition_files=None, **kwargs):
        names = parse.lines(clip_files, "clip_files", required=False) if clip_files else []
        names += parse.lines(transition_files, "transition_files", required=False) if transition_files else []
        return file_fingerprint(names)

    @classmethod
    def execute(cls, **inputs) -> io.NodeOutput:
        return final_output(assemble_joined_files(node_context(), **inputs))


def clip_file(item, label: str, index: int, kind: str, image_fps) -> str:
    """The annotated file a clip is read from: a VIDEO through the adapter (its own file, or a
    lossless copy of exactly its frames and sound); an IMAGE batch written losslessly at its own
    size and rate under a fresh name (nothing cached is overwritten)."""
    if not isinstance(item, torch.Tensor):
        return video_file_name(item, label)
    if item.dim() != 4 or item.shape[0] == 0:
        raise PlanError(f"{label} must be a non-empty IMAGE batch [frames,H,W,3] or a VIDEO")
    frames = item[..., :3]
    out_path, _, relative = resolve_output(f"segue/clips/{uuid.uuid4().hex}_{index:03d} [{kind}]", folders(), label,
                                           suffix=LOSSLESS_SUFFIX)
    with VideoWriter(out_path, image_fps, int(frames.shape[2]), int(frames.shape[1]), codec=LOSSLESS_CODEC) as writer:
        for i in range(0, frames.shape[0], CHUNK):
            writer.write(frames[i:i + CHUNK])
    return f"{relative} [{kind}]"


class SegueJoinClips(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinClips",
            display_name="Segue Join Clips",
            category=CATEGORY,
            description="Join clips of any size, frame rate and sound with generated transitions in one node: each "
                        "transition is generated by the recipe from both clips' context at the model's working "
                        "size and rate, and everything is assembled into one MP4 at the output size and rate with "
                        "every clip's sound under its own pictures. Memory stays flat however many clips.",
            inputs=[
                io.String.Input("clip_files", multiline=True, default="", optional=True,
                                tooltip="Any number of clips by name instead of the clip_N inputs: one file per line "
                                        "(relative to input/, or with ' [output]'), or a folder ending in '/' for "
                                        "every video in it in name order."),
                *segment_inputs("clip", MAX_SEGMENT_INPUTS, "Clip (or list them in clip_files)", required=0),
                recipe_input(),
                io.String.Input("prompt", multiline=True, default=DEFAULT_JOIN_PROMPT,
                                tooltip="What happens in the transitions: one line for every join, or one line per "
                                        "join."),
                io.String.Input("negative_prompt", multiline=True, default="", tooltip="What to avoid."),
                *join_setting_inputs(),
                *advanced([io.Boolean.Input("bridging", default=False,
                                            tooltip="Also keep A's last and B's first frame at 1/3 and 2/3 of long "
                                                    "gaps.")]),
                loop_input(),
                *format_inputs("clip"),
                *blend_inputs(),
                io.String.Input("filename_prefix", default="segue/join",
                                tooltip="The MP4 goes to output/<prefix>_NNNNN_.mp4 (a new number per run)."),
                keep_input(),
                *encode_inputs(),
                *sound_inputs(),
                output_images_input("result"),
            ],
            outputs=[
                video_output("joined video"),
                io.Image.Output(display_name="images", tooltip="The result as IMAGE; only when output_images is on."),
            ],
            **EXPANDING,
        )

    @classmethod
    def validate_inputs(cls, per_join=None, preset=None, curve=None, fit=None, filename_prefix=None, gap_audio=None,
                        retime=None):
        return validated(*encode_checks(preset, curve, filename_prefix=filename_prefix), per_join_check(per_join),
                               *format_checks(fit, gap_audio, retime))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, context, gap, replace, blend, per_join, bridging, width, height, fit, fps, prompt,
                negative_prompt, curve, sharpen, filename_prefix, keep_segments, crf, preset, keep_audio,
                output_images, recipe=None, loop=False, clip_files="", work_width=0, work_height=0,
                generation_fps=float(GENERATION_FPS), gap_audio=DEFAULT_GAP_AUDIO, retime=DEFAULT_RETIME,
                **kwargs) -> io.NodeOutput:
        for check in format_checks(fit, gap_audio, retime):
            check()
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
        joins = join_count(len(items), bool(loop))
        run = one_node_run(cls, "SegueJoinClips", recipe, joins, "joins", curve=curve, sharpen=sharpen, crf=crf,
                           preset=preset, filename_prefix=filename_prefix, keep_segments=keep_segments)
        texts = Texts(tuple(parse.per_segment_text(prompt, joins, "prompt", "join")),
                      (parse.prompt_text(negative_prompt, "negative_prompt"),) * joins)
        parse.per_join_overrides(per_join)
        image_fps = fps if fps > 0 else GENERATION_FPS
        names = [clip_file(item, f"clip_{k + 1}", k, run.folder, image_fps) for k, item in enumerate(items)]
        paths = [resolve_input(n, folders(), "clip files") for n in names]
        settings = JoinStepSettings(int(context), int(gap), bool(replace), int(blend), str(per_join or ""),
                                    bool(bridging), int(width), int(height), fit, bool(loop), float(fps),
                                    int(work_width), int(work_height), float(generation_fps), retime, gap_audio)
        fmt = settings.format(paths)
        plan = settings.plan(paths, names, fmt)      # fails here, not later
        check_step_memory(fmt.work_width, fmt.work_height, [j.generation_frames for j in plan.joins], "join")
        g = Graph()
        video = join_graph(g, settings, joins, run.recipe, run.sources, texts, names,
                           [SaveTo("", run.folder)] * joins, run.encode, bool(keep_audio))
        return expanded_video(g, video, output_images, "SegueJoinClips")


NODES = [SegueJoinAssembleFiles, SegueJoinClips]
