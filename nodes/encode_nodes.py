"""Guide + core Wan conditioning in one node, so the guide frames are never a node output.

``SegueVaceEncode`` builds the step's control video and mask and calls core ``WanVaceToVideo``
with them; ``SegueFirstLastEncode`` gives the step's leading and trailing kept frames to core
``WanFirstLastFrameToVideo`` (models without VACE).  Only the conditioning and the empty latent
leave the node (latent-sized, about 1/40 of the frames), so a long one-prompt travel does not keep
every segment's guide in RAM.
"""

from __future__ import annotations

from ..video_utils.core.errors import PlanError
from ..video_utils.engine.steps import first_last_frames
from .api import CATEGORY, encode_clip_vision, first_last_encode, io, vace_encode
from .widgets import step_input


def _conditioning_inputs() -> list:
    return [
        io.Conditioning.Input("positive", tooltip="Positive conditioning (CLIPTextEncode of the prompt)."),
        io.Conditioning.Input("negative", tooltip="Negative conditioning (CLIPTextEncode of what to avoid)."),
        io.Vae.Input("vae", tooltip="The Wan 2.1 VAE (VAELoader): encodes the kept frames."),
        step_input(),
    ]


def _conditioning_outputs(latent: str) -> list:
    """What both encoders hand the samplers, like core's Wan encoders."""
    return [io.Conditioning.Output(display_name="positive", tooltip="To the sampler's positive."),
            io.Conditioning.Output(display_name="negative", tooltip="To the sampler's negative."),
            io.Latent.Output(display_name="latent", tooltip=latent)]


def reference_for(reference_image, step):
    """One reference image for every step, or one per step (picked by the step's index)."""
    if reference_image is None:
        return None
    count = int(reference_image.shape[0])
    if count == 1:
        return reference_image[:1]
    if step.index >= count:
        raise PlanError(f"reference_image holds {count} images but {step.label} needs image {step.index}: give one "
                        f"image for every segment/transition, or a single one for all")
    return reference_image[step.index:step.index + 1]


class SegueVaceEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueVaceEncode",
            display_name="Segue VACE Encode",
            category=CATEGORY,
            description="Build the step's guide (kept frames + mask) and encode it with core WanVaceToVideo, in "
                        "one node: connect its outputs like WanVaceToVideo's (KSampler, TrimVideoLatent).",
            inputs=[
                *_conditioning_inputs(),
                io.Float.Input("strength", default=1.0, min=0.0, max=1000.0, step=0.01,
                               tooltip="How strongly the kept frames steer the model (WanVaceToVideo strength)."),
                io.Image.Input("reference_image", optional=True,
                               tooltip="Optional VACE reference: an image of the subject/style to keep. One image "
                                       "for every step, or one per step."),
            ],
            outputs=[
                *_conditioning_outputs("The empty video latent to sample."),
                io.Int.Output(display_name="trim_latent",
                              tooltip="Latent frames the reference image added: to TrimVideoLatent.trim_amount."),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, vae, step, strength, reference_image=None) -> io.NodeOutput:
        guide, masks = step.guide()
        return io.NodeOutput(*vace_encode(positive, negative, vae, int(guide.shape[2]), int(guide.shape[1]),
                                          int(step.length), float(strength), guide, masks,
                                          reference_for(reference_image, step)))


class SegueFirstLastEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueFirstLastEncode",
            display_name="Segue First-Last Encode",
            category=CATEGORY,
            description="For Wan first-last-frame models without VACE: the step's leading kept frames (the previous "
                        "segment's end, or the start keyframe) and trailing ones (the next keyframe) through core "
                        "WanFirstLastFrameToVideo.",
            inputs=[
                *_conditioning_inputs(),
                io.ClipVision.Input("clip_vision", optional=True,
                                    tooltip="Optional CLIP vision model (CLIPVisionLoader): encodes the start and end "
                                            "frames as the model's image conditioning."),
            ],
            outputs=_conditioning_outputs("The video latent to sample."),
        )

    @classmethod
    def execute(cls, positive, negative, vae, step, clip_vision=None) -> io.NodeOutput:
        start, end = first_last_frames(step)
        vision = (None, None)
        if clip_vision is not None:
            vision = (encode_clip_vision(clip_vision, start[-1:]), encode_clip_vision(clip_vision, end[:1]))
        return io.NodeOutput(*first_last_encode(positive, negative, vae, int(start.shape[2]), int(start.shape[1]),
                                                int(step.length), start, end, *vision))


NODES = [SegueVaceEncode, SegueFirstLastEncode]
