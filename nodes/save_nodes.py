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

from ..video_utils.core.constants import DEFAULT_PREVIEW_METHOD, PREVIEW_METHODS
from ..video_utils.core.errors import PlanError
from ..video_utils.core.recipe import check_choice
from ..video_utils.engine.executor import preview_step, save_step
from .api import CATEGORY, io, node_context, vae_decode
from .outputs import step_output
from .widgets import post_checks, post_inputs, step_input, target_inputs, validated


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
                step_input("The step these frames were generated for."),
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
        return validated(*post_checks(filename, folder, colour_match, colour_method))

    @classmethod
    def execute(cls, step, filename, folder, samples=None, vae=None, images=None, **post) -> io.NodeOutput:
        if images is not None and samples is not None:
            raise PlanError(f"{step.label}: connect samples (with vae) or images, not both")
        if images is None:
            if samples is None or vae is None:
                raise PlanError(f"{step.label}: connect samples and vae (the sampler's latent), or images")
            images = vae_decode(vae, samples)
        return step_output(save_step(node_context(), images, step, filename, folder, **post))


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
                step_input("The segment/transition to fill (a Segue Travel, Join or Extend Step)."),
                io.Combo.Input("method", options=list(PREVIEW_METHODS), default=DEFAULT_PREVIEW_METHOD,
                               tooltip="flow: optical-flow morph between kept frames; blend: plain cross-dissolve."),
                *target_inputs(),
                *post_inputs(),
            ],
            outputs=[VIDEO_OUT],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, method=None, filename=None, folder=None, colour_match=None, colour_method=None):
        return validated(lambda: method is None or check_choice(method, PREVIEW_METHODS, "method"),
                               *post_checks(filename, folder, colour_match, colour_method))

    @classmethod
    def execute(cls, step, method, filename, folder, **post) -> io.NodeOutput:
        return step_output(preview_step(node_context(), step, method, filename, folder, **post))


NODES = [SegueSaveStep, SeguePreviewStep]
