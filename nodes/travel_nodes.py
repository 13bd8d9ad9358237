"""A whole travel, or one segment of it, as a single node that expands into ordinary nodes.

The expansion is built by ``video_utils.chains`` (the orchestrator's prompts come from the same
builder): per segment ``SegueTravelStep`` -> the recipe's chain (``SeguePreviewStep``, or
``SegueVaceEncode`` -> KSampler(s) -> ``TrimVideoLatent`` -> ``SegueSaveStep``) -> a lossless file;
chained steps read only the previous file's last frames; a streamed ``SegueStitchFiles`` makes
the MP4.  Guides are built inside the encoders and frames leave as files, so peak memory does
not grow with the number of segments, and re-running with one prompt changed re-uses every
unchanged segment before it (the segment files get fresh names per run, so nothing cached is
ever overwritten).
"""

from __future__ import annotations

from ..video_utils.audio import check_soundtrack
from ..video_utils.chains import (EncodeSettings, SaveTo, Texts, TravelDelivery, TravelStepSettings, step_chain,
                                  travel_graph, travel_step)
from ..video_utils.constants import DEFAULT_FIT, DEFAULT_RETIME, FILE_FOLDERS, GENERATION_FPS
from ..video_utils.errors import PlanError
from ..video_utils.prompt_graph import Graph, out
from . import parse
from .api import CATEGORY, RECIPE, ExecutionBlocker, advanced, folders, io
from .expansion import EXPAND_HIDDEN, check_steps_memory, expand, no_lazy_inputs, node_links, recipe_sources
from .io_nodes import prefix_folder
from .guide_nodes import (adjust_inputs, first_video_input, travel_plan_from, travel_settings_checks,
                          travel_settings_inputs)
from .paths import check_relative, resolve_input
from .stitch_nodes import (blend_inputs, check_encode, delivery_checks, delivery_inputs, delivery_output, encode_checks,
                           encode_inputs)


def recipe_input() -> io.Input:
    return RECIPE.Input("recipe", optional=True,
                        tooltip="How segments are generated (Segue Recipe: Wan VACE models, sampler, LoRAs...). "
                                "Not connected = the CPU preview generator (no model).")


def keep_input() -> io.Input:
    return advanced([io.Boolean.Input("keep_segments", default=False,
                                      tooltip="Keep the lossless segment files in output/segue/steps/ (re-stitch "
                                              "them later with Segue Stitch Files); off = temp/, cleared when "
                                              "ComfyUI restarts.")])[0]


def output_images_input(what: str) -> io.Input:
    return advanced([io.Boolean.Input("output_images", default=False,
                                      tooltip=f"Also decode the {what} to the images output (costs RAM on long "
                                              f"videos; off = the images output is blocked).")])[0]


def video_images_outputs(what: str) -> list:
    """The outputs of a one-node run: its MP4 as a VIDEO, and its frames when asked for."""
    return [io.Video.Output(display_name="video", tooltip=f"The {what} as a file-backed MP4 VIDEO."),
            io.Image.Output(display_name="images", tooltip=f"The {what}'s frames as IMAGE; only when output_images "
                                                           f"is on.")]


def _texts(prompts: str, negative_prompt: str, count: int, name: str) -> Texts:
    return Texts(tuple(parse.per_segment_text(prompts, count, name)),
                 (parse.prompt_text(negative_prompt, "negative_prompt"),) * count)


def _settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken,
              loop=False) -> TravelStepSettings:
    return TravelStepSettings(str(segment_frames), str(overlap), mode, bool(exact_keyframes), float(strength),
                              float(desaturate), float(darken), bool(loop))


def images_or_blocker(g: Graph, video, output_images: bool, node: str):
    if output_images:
        return out(g.add("frames", "GetVideoComponents", video=video), 0)
    return ExecutionBlocker(f"{node}: turn output_images on to use its images output "
                            f"(off by default so long videos are not decoded into RAM)")


class SegueTravelSegment(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravelSegment",
            display_name="Segue Travel Segment",
            category=CATEGORY,
            description="One travel segment end to end (step -> the recipe's generator -> checked lossless file), "
                        "expanded into ordinary nodes. Chain several by feeding each one's video into the next "
                        "one's previous_video.",
            inputs=[
                io.Image.Input("keyframes", tooltip="ALL keyframes as one batch (Segue Load Images)."),
                io.Int.Input("segment_index", default=0, min=0, max=10_000,
                             tooltip="Which segment: 0 = keyframe 0 -> 1, 1 = keyframe 1 -> 2, ..."),
                *travel_settings_inputs(),
                io.Video.Input("previous_video", optional=True,
                               tooltip="Chained segments after the first: the previous segment's video output "
                                       "(only its last overlap frames are read)."),
                first_video_input(),
                recipe_input(),
                io.String.Input("prompt", multiline=True, default="", tooltip="What happens in this segment."),
                io.String.Input("negative_prompt", multiline=True, default="", tooltip="What to avoid."),
                *adjust_inputs(),
                keep_input(),
                output_images_input("segment"),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The segment's frames as they land in the video "
                                                               "(only when output_images is on)."),
                io.Video.Output(display_name="video", tooltip="The same frames as a lossless, file-backed VIDEO."),
            ],
            hidden=EXPAND_HIDDEN,
            enable_expand=True,
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None):
        return parse.validated(*travel_settings_checks(segment_frames, overlap, mode))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, prompt,
                negative_prompt, keep_segments, output_images, previous_video=None, first_video=None, recipe=None,
                strength=1.0, desaturate=0.0, darken=0.0, loop=False) -> io.NodeOutput:
        plan = travel_plan_from(int(keyframes.shape[0]), segment_frames, overlap, mode, exact_keyframes, loop)
        check_steps_memory(keyframes.shape[2], keyframes.shape[1], [s.generate_frames for s in plan.segments],
                           "travel segment")
        count = len(plan.segments)
        if not 0 <= segment_index < count:
            raise PlanError(f"segment_index={segment_index} is out of range: {keyframes.shape[0]} keyframes make "
                            f"segments 0..{count - 1}")
        recipe, sources = recipe_sources(cls, recipe, "SegueTravelSegment")
        recipe.check_items(count)
        links = node_links(cls)
        g = Graph()
        settings = _settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken, loop)
        step = travel_step(g, settings, links["keyframes"], segment_index, links.get("previous_video"), "",
                           links.get("first_video"))
        texts = Texts((parse.prompt_text(prompt, "prompt"),) * count,
                      (parse.prompt_text(negative_prompt, "negative_prompt"),) * count)
        video = step_chain(g, recipe, sources, out(step, 0), segment_index, recipe.item_seeds(count)[segment_index],
                           texts, SaveTo("", "output" if keep_segments else "temp"), "")
        images = images_or_blocker(g, video, output_images, "SegueTravelSegment")
        (images, video), expansion = expand(g, images, video)
        return io.NodeOutput(images, video, expand=expansion)


class SegueTravel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravel",
            display_name="Segue Travel",
            category=CATEGORY,
            description="A whole travel through N keyframes in one node: N-1 segments generated by the recipe, each "
                        "saved losslessly and chained through the files, then cross-faded into one MP4 by a "
                        "streamed stitch. Memory stays flat however many segments.",
            inputs=[
                io.Image.Input("keyframes", tooltip="All keyframes as one batch (Segue Load Images), in order."),
                recipe_input(),
                io.String.Input("prompts", multiline=True, default="",
                                tooltip="One prompt per line: one line for every segment, or one line per segment."),
                io.String.Input("negative_prompt", multiline=True, default="",
                                tooltip="What to avoid, shared by every segment."),
                *travel_settings_inputs(),
                *adjust_inputs(),
                *blend_inputs(),
                io.String.Input("filename_prefix", default="segue/travel",
                                tooltip="The MP4 goes to output/<prefix>_NNNNN_.mp4 (a new number per run)."),
                keep_input(),
                *encode_inputs(),
                *delivery_inputs(loop=False),
                output_images_input("travel"),
            ],
            outputs=video_images_outputs("stitched travel"),
            hidden=EXPAND_HIDDEN,
            enable_expand=True,
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None, preset=None, curve=None,
                        filename_prefix=None, soundtrack=None, retime=None, fit=None):
        return parse.validated(*travel_settings_checks(segment_frames, overlap, mode), *encode_checks(preset, curve),
                               *delivery_checks(retime, fit),
                               lambda: filename_prefix is None or check_relative(filename_prefix, "filename_prefix"),
                               lambda: not soundtrack or resolve_input(soundtrack, folders(), "soundtrack",
                                                                       must_exist=False))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, keyframes, prompts, negative_prompt, segment_frames, overlap, mode, exact_keyframes, curve,
                sharpen, filename_prefix, keep_segments, crf, preset, output_images, recipe=None, strength=1.0,
                desaturate=0.0, darken=0.0, loop=False, output_fps=0.0, width=0, height=0, retime=DEFAULT_RETIME,
                soundtrack="", fit=DEFAULT_FIT) -> io.NodeOutput:
        plan = travel_plan_from(int(keyframes.shape[0]), segment_frames, overlap, mode, exact_keyframes, loop)
        check_steps_memory(keyframes.shape[2], keyframes.shape[1], [s.generate_frames for s in plan.segments],
                           "travel segment")
        count = len(plan.segments)
        check_encode(preset, curve, sharpen=sharpen)
        prefix_folder(filename_prefix, "filename_prefix")
        delivery_output(output_fps, width, height, retime, loop, fit)   # the stitch's settings, before any segment runs
        if str(soundtrack or "").strip():    # before any segment is generated, not at the stitch
            check_soundtrack(resolve_input(soundtrack, folders(), "soundtrack"))
        recipe, sources = recipe_sources(cls, recipe, "SegueTravel")
        recipe.check_items(count)
        folder = FILE_FOLDERS[1] if keep_segments else FILE_FOLDERS[0]
        g = Graph()
        video = travel_graph(
            g, _settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken, loop),
            plan.segments,
            plan.overlaps, recipe, sources, _texts(prompts, negative_prompt, count, "prompts"),
            node_links(cls)["keyframes"], [SaveTo("", folder)] * count,
            EncodeSettings(curve, float(sharpen), int(crf), preset, filename_prefix=filename_prefix),
            float(GENERATION_FPS), TravelDelivery(float(output_fps), int(width), int(height), retime, bool(loop),
                                                  str(soundtrack or ""), fit))
        images = images_or_blocker(g, video, output_images, "SegueTravel")
        (video, images), expansion = expand(g, video, images)
        return io.NodeOutput(video, images, expand=expansion)


NODES = [SegueTravelSegment, SegueTravel]
