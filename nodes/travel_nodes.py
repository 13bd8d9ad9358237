"""A whole travel, or one segment of it, as a single node that expands into ordinary nodes.

The expansion is built by ``video_utils.core.chains`` (the orchestrator's prompts come from the same
builder): per segment ``SegueTravelStep`` -> the recipe's chain (``SeguePreviewStep``, or
``SegueVaceEncode`` -> KSampler(s) -> ``TrimVideoLatent`` -> ``SegueSaveStep``) -> a lossless file;
chained steps read only the previous file's last frames; a streamed ``SegueStitchFiles`` makes
the MP4.  Guides are built inside the encoders and frames leave as files, so peak memory does
not grow with the number of segments, and re-running with one prompt changed re-uses every
unchanged segment before it (the segment files get fresh names per run, so nothing cached is
ever overwritten).
"""

from __future__ import annotations

from ..video_utils.core import parse
from ..video_utils.core.chains import SaveTo, Texts, step_chain, travel_graph, travel_step
from ..video_utils.core.constants import DEFAULT_FIT, DEFAULT_RETIME, GENERATION_FPS
from ..video_utils.core.folders import check_relative, resolve_input
from ..video_utils.core.lengths import check_step_memory, item_index
from ..video_utils.core.prompt_graph import Graph, out
from ..video_utils.core.step_settings import TravelDelivery, TravelStepSettings
from ..video_utils.engine.sound import check_soundtrack
from .api import CATEGORY, folders, io
from .expansion import EXPANDING, expand, expanded_video, no_lazy_inputs, node_links, one_node_run, recipe_sources
from .outputs import images_or_blocker
from .widgets import (adjust_inputs, blend_inputs, delivery_checks, delivery_inputs, encode_checks, encode_inputs,
                      first_video_input, keep_input, keyframes_input, output_images_input, recipe_input,
                      travel_segment_inputs, travel_settings_checks, travel_settings_inputs, validated,
                      video_images_outputs)


def _settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken,
              loop=False) -> TravelStepSettings:
    return TravelStepSettings(str(segment_frames), str(overlap), mode, bool(exact_keyframes), float(strength),
                              float(desaturate), float(darken), bool(loop))


def _plan(keyframes, settings: TravelStepSettings):
    """The travel through these keyframes, refused before anything expands when a segment would be
    too small to generate or too big for memory."""
    plan = settings.plan(int(keyframes.shape[0]))
    check_step_memory(keyframes.shape[2], keyframes.shape[1], [s.generate_frames for s in plan.segments],
                      "travel segment")
    return plan


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
                *travel_segment_inputs(),
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
            **EXPANDING,
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None):
        return validated(*travel_settings_checks(segment_frames, overlap, mode))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, prompt,
                negative_prompt, keep_segments, output_images, previous_video=None, first_video=None, recipe=None,
                strength=1.0, desaturate=0.0, darken=0.0, loop=False) -> io.NodeOutput:
        settings = _settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken, loop)
        count = len(_plan(keyframes, settings).segments)
        item_index(segment_index, count, "segment_index", f"{keyframes.shape[0]} keyframes make segments")
        recipe, sources = recipe_sources(cls, recipe, "SegueTravelSegment")
        recipe.check_items(count)
        links = node_links(cls)
        g = Graph()
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
                keyframes_input(),
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
            **EXPANDING,
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None, preset=None, curve=None,
                        filename_prefix=None, soundtrack=None, retime=None, fit=None):
        return validated(*travel_settings_checks(segment_frames, overlap, mode), *encode_checks(preset, curve),
                         *delivery_checks(retime, fit),
                         lambda: filename_prefix is None or check_relative(filename_prefix, "filename_prefix"),
                         lambda: not soundtrack or resolve_input(soundtrack, folders(), "soundtrack", must_exist=False))

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, keyframes, prompts, negative_prompt, segment_frames, overlap, mode, exact_keyframes, curve,
                sharpen, filename_prefix, keep_segments, crf, preset, output_images, recipe=None, strength=1.0,
                desaturate=0.0, darken=0.0, loop=False, output_fps=0.0, width=0, height=0, retime=DEFAULT_RETIME,
                soundtrack="", fit=DEFAULT_FIT) -> io.NodeOutput:
        settings = _settings(segment_frames, overlap, mode, exact_keyframes, strength, desaturate, darken, loop)
        plan = _plan(keyframes, settings)
        count = len(plan.segments)
        delivery = TravelDelivery(float(output_fps), int(width), int(height), retime, bool(loop),
                                  str(soundtrack or ""), fit).check()   # the stitch's, before any segment runs
        if delivery.soundtrack.strip():      # before any segment is generated, not at the stitch
            check_soundtrack(resolve_input(soundtrack, folders(), "soundtrack"))
        run = one_node_run(cls, "SegueTravel", recipe, count, "segments", curve=curve, sharpen=sharpen, crf=crf,
                           preset=preset, filename_prefix=filename_prefix, keep_segments=keep_segments)
        g = Graph()
        video = travel_graph(g, settings, plan.segments, plan.overlaps, run.recipe, run.sources,
                             Texts(tuple(parse.per_segment_text(prompts, count, "prompts")),
                                   (parse.prompt_text(negative_prompt, "negative_prompt"),) * count),
                             node_links(cls)["keyframes"], [SaveTo("", run.folder)] * count, run.encode,
                             float(GENERATION_FPS), delivery)
        return expanded_video(g, video, output_images, "SegueTravel")


NODES = [SegueTravelSegment, SegueTravel]
