"""The end of every generation chain: frames -> checked, trimmed, colour-corrected lossless file.

``SegueSaveStep`` decodes the sampler's latent with core ``VAEDecode`` (or takes decoded frames
from a template graph) and saves them in one node, so the decoded frames of a segment are never
a node output; ``SeguePreviewStep`` does the same with the CPU preview generator.  Both return a
file-backed VIDEO, which the next chained step and the stitch read back bit-exactly.

File names: ``filename`` is an exact path (the orchestrator's per-step prompts name every file
in advance); empty means a fresh name under ``segue/steps/`` in ``folder`` — a new file per run,
so a cached result never points at a file a later run overwrote.  temp/ is cleared when ComfyUI
restarts; output/ keeps the segments.
"""

from __future__ import annotations

import uuid

from ..video_utils.constants import COLOUR_MATCH_MODES, COLOUR_METHODS, FILE_FOLDERS, LOSSLESS_SUFFIX, PREVIEW_METHODS
from ..video_utils.errors import PlanError
from ..video_utils.postprocess import PostSettings, finish_frames
from ..video_utils.preview_generator import preview_generate
from ..video_utils.video_write import LOSSLESS_CODEC
from . import parse
from .api import CATEGORY, STEP, Progress, advanced, folders, io, vae_decode
from .io_nodes import segment_suffix, write_frames
from .paths import check_relative, resolve_output, result_entry, split_annotation
from .video_adapters import file_video


def target_inputs() -> list:
    return [
        io.String.Input("filename", default="",
                        tooltip="Exact file to write, under output/ without extension (add ' [temp]' for temp/), "
                                "overwritten atomically; empty = a new name under segue/steps/ in folder."),
        io.Combo.Input("folder", options=list(FILE_FOLDERS), default="temp",
                       tooltip="With an empty filename: temp/ (cleared when ComfyUI restarts) or output/ (kept)."),
    ]


def post_inputs() -> list:
    defaults = PostSettings()
    return advanced([
        io.Combo.Input("colour_match", options=list(COLOUR_MATCH_MODES), default=defaults.colour_match,
                       tooltip="Match the frames' colours to what they continue (previous) or to the first "
                               "keyframe; none = as generated."),
        io.Combo.Input("colour_method", options=list(COLOUR_METHODS), default=defaults.colour_method,
                       tooltip="lab: brightness and tint separately (best); rgb: per colour channel."),
        io.Float.Input("colour_strength", default=defaults.colour_strength, min=0.0, max=1.0, step=0.05,
                       tooltip="How much of the colour correction is applied (0 = none, 1 = all)."),
        io.Float.Input("saturation", default=defaults.saturation, min=0.0, max=4.0, step=0.01,
                       tooltip="1 = unchanged; below 1 desaturates, above 1 saturates."),
        io.Float.Input("brightness", default=defaults.brightness, min=-1.0, max=1.0, step=0.01,
                       tooltip="0 = unchanged; +0.05 = 5 % brighter, -0.05 = 5 % darker."),
    ], "colour_method", "colour_strength", "saturation", "brightness")


def post_checks(filename=None, folder=None, colour_match=None, colour_method=None) -> list:
    return [
        lambda: not filename or check_relative(split_annotation(filename, "output")[0], "filename"),
        lambda: folder is None or parse.check_choice(folder, FILE_FOLDERS, "folder"),
        lambda: colour_match is None or parse.check_choice(colour_match, COLOUR_MATCH_MODES, "colour_match"),
        lambda: colour_method is None or parse.check_choice(colour_method, COLOUR_METHODS, "colour_method"),
    ]


def save_step(frames, step, filename: str, folder: str, post: dict) -> io.NodeOutput:
    """Finish ``frames`` for ``step`` and write them losslessly; the node's output and history."""
    finished = finish_frames(frames, step, PostSettings(**post))
    if filename.strip():
        suffix = segment_suffix(filename)
    else:
        parse.check_choice(folder, FILE_FOLDERS, "folder")
        filename, suffix = f"segue/steps/{uuid.uuid4().hex} [{folder}]", LOSSLESS_SUFFIX
    path, kind, relative = resolve_output(filename, folders(), "filename", suffix=suffix)
    count = write_frames(path, finished, step.fps, codec=LOSSLESS_CODEC)
    return io.NodeOutput(file_video(path), ui={"segue_files": [result_entry(relative, kind, frames=count)]})


VIDEO_OUT = io.Video.Output(display_name="video",
                            tooltip="The saved frames as a file-backed VIDEO: into the next chained Segue Travel Step, "
                                    "or a Segue File List for the stitch.")


class SegueSaveStep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueSaveStep",
            display_name="Segue Save Step",
            category=CATEGORY,
            description="Decode a step's sampled latent (core VAEDecode) or take its decoded frames, check the frame "
                        "count against the plan, trim, colour-correct and save them losslessly, in one node.",
            inputs=[
                STEP.Input("step", tooltip="The step these frames were generated for."),
                io.Latent.Input("samples", optional=True,
                                tooltip="The sampled latent (after TrimVideoLatent); needs vae. Or connect images."),
                io.Vae.Input("vae", optional=True, tooltip="The Wan VAE that decodes samples."),
                io.Image.Input("images", optional=True, tooltip="Instead of samples: already decoded frames."),
                *target_inputs(),
                *post_inputs(),
            ],
            outputs=[VIDEO_OUT],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, filename=None, folder=None, colour_match=None, colour_method=None):
        return parse.validated(*post_checks(filename, folder, colour_match, colour_method))

    @classmethod
    def execute(cls, step, filename, folder, samples=None, vae=None, images=None, **post) -> io.NodeOutput:
        if images is not None and samples is not None:
            raise PlanError(f"{step.label}: connect samples (with vae) or images, not both")
        if images is None:
            if samples is None or vae is None:
                raise PlanError(f"{step.label}: connect samples and vae (the sampler's latent), or images")
            images = vae_decode(vae, samples)
        return save_step(images, step, filename, folder, post)


class SeguePreviewStep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SeguePreviewStep",
            display_name="Segue Preview Step",
            category=CATEGORY,
            description="CPU stand-in for the Wan sampler on a step: morph between its kept frames, then check, "
                        "colour-correct and save losslessly like Segue Save Step. Preview timing with no model.",
            inputs=[
                STEP.Input("step", tooltip="The segment/transition to fill (Segue Travel Step / Join Step)."),
                io.Combo.Input("method", options=list(PREVIEW_METHODS), default="flow",
                               tooltip="flow: optical-flow morph between kept frames; blend: plain cross-dissolve."),
                *target_inputs(),
                *post_inputs(),
            ],
            outputs=[VIDEO_OUT],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, method=None, filename=None, folder=None, colour_match=None, colour_method=None):
        return parse.validated(lambda: method is None or parse.check_choice(method, PREVIEW_METHODS, "method"),
                               *post_checks(filename, folder, colour_match, colour_method))

    @classmethod
    def execute(cls, step, method, filename, folder, **post) -> io.NodeOutput:
        parse.check_choice(method, PREVIEW_METHODS, "method")
        guide, masks = step.guide()
        frames = preview_generate(guide, masks, method=method, progress=Progress(int(guide.shape[0])))
        del guide, masks
        return save_step(frames, step, filename, folder, post)


NODES = [SegueSaveStep, SeguePreviewStep]
