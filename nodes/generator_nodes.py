"""The CPU preview generator, the frame-count check that guards every generated segment, and
the colour match that removes the tint/brightness drift generated frames pick up."""

from __future__ import annotations

import torch

from ..video_utils.core.constants import DEFAULT_PREVIEW_METHOD, PREVIEW_METHODS as METHODS
from ..video_utils.core.errors import PlanError
from ..video_utils.core.recipe import check_choice
from ..video_utils.engine.colour import match_colour
from ..video_utils.engine.preview_generator import preview_generate
from .api import CATEGORY, Progress, io
from .widgets import validated


class SeguePreviewGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SeguePreviewGenerator",
            display_name="Segue Preview Generator",
            category=CATEGORY,
            description="CPU stand-in for the Wan VACE sampler: keeps the guide's kept frames and morphs the "
                        "frames to generate between them. Previews timing, cuts and blends without a model.",
            inputs=[
                io.Image.Input("control_video", tooltip="Guide frames (a Segue guide node's control_video)."),
                io.Mask.Input("control_masks", tooltip="Guide mask (a Segue guide node's control_masks): 0 = keep."),
                io.Combo.Input("method", options=list(METHODS), default=DEFAULT_PREVIEW_METHOD,
                               tooltip="flow: optical-flow morph between kept frames; blend: plain cross-dissolve."),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="As many frames as the guide, kept frames unchanged.")],
        )

    @classmethod
    def validate_inputs(cls, method=None):
        return validated(lambda: method is None or check_choice(method, METHODS, "method"))

    @classmethod
    def execute(cls, control_video, control_masks, method) -> io.NodeOutput:
        check_choice(method, METHODS, "method")
        bar = Progress(int(control_video.shape[0]))
        return io.NodeOutput(preview_generate(control_video[..., :3], control_masks, method=method, progress=bar))


class SegueCheckFrames(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueCheckFrames",
            display_name="Segue Check Frames",
            category=CATEGORY,
            description="Pass frames through unchanged, failing loudly when their count is not the planned one "
                        "(a short generation would shift every later frame and ghost in the cross-fades).",
            inputs=[
                io.Image.Input("images", tooltip="Generated frames (e.g. VAEDecode's output)."),
                io.Int.Input("expected_frames", default=81, min=1, max=10_000_000,
                             tooltip="The planned frame count (the guide's length)."),
                io.String.Input("what", default="segment", optional=True,
                                tooltip="Label used in the error message, e.g. 'travel segment 3'."),
                io.Int.Input("trim_start", default=0, min=0, max=100_000, optional=True,
                             tooltip="Frames dropped from the start AFTER the check (a travel's segment-0 lead-in)."),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="The same frames (minus trim_start).")],
        )

    @classmethod
    def execute(cls, images, expected_frames, what="segment", trim_start=0) -> io.NodeOutput:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise PlanError(f"{what}: images must be an IMAGE batch [frames,H,W,3]")
        got = int(images.shape[0])
        if got != expected_frames:
            raise PlanError(
                f"{what}: planned {expected_frames} frames but the generator returned {got}. Wan decodes 4n+1 "
                f"frames: wire the guide's length into WanVaceToVideo.length, TrimVideoLatent.trim_amount to "
                f"WanVaceToVideo's trim_latent, and do not change the batch in between"
            )
        if trim_start >= got:
            raise PlanError(f"{what}: trim_start={trim_start} would drop all {got} frames")
        return io.NodeOutput(images[trim_start:] if trim_start else images)


class SegueColourMatch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueColourMatch",
            display_name="Segue Colour Match",
            category=CATEGORY,
            description="Move the frames' colour statistics (LAB mean and spread) to a reference's, with one "
                        "transform for the whole batch so nothing flickers: removes the colour/brightness shift "
                        "of generated segments against their keyframes or the previous segment.",
            inputs=[
                io.Image.Input("images", tooltip="Frames to correct (e.g. VAEDecode's output)."),
                io.Image.Input("reference", tooltip="Frames with the wanted colours (e.g. the segment's keyframes "
                                                    "or the previous segment's last frames)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="0 = unchanged, 1 = full transfer."),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="The corrected frames (same count and size).")],
        )

    @classmethod
    def execute(cls, images, reference, strength) -> io.NodeOutput:
        return io.NodeOutput(match_colour(images[..., :3], reference[..., :3], float(strength)))


NODES = [SeguePreviewGenerator, SegueCheckFrames, SegueColourMatch]
