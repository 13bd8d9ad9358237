"""The one place Segue touches ComfyUI's Python API.

``comfy_api.latest`` is explicitly unstable upstream, so every import of ComfyUI's packages
(V3 schema, VIDEO classes, folders, progress bar, graph builder) lives here and the node modules
use these names only.
"""

from __future__ import annotations

import inspect

import folder_paths
from comfy_api.latest import ComfyExtension, InputImpl, io
from comfy_execution.graph_utils import ExecutionBlocker, GraphBuilder
from comfy_extras.nodes_wan import WanFirstLastFrameToVideo, WanVaceToVideo
from nodes import VAEDecode

import comfy.model_management
import comfy.samplers
import comfy.utils

from ..video_utils.core.folders import Folders
from ..video_utils.engine.executor import NodeContext

__all__ = ["ComfyExtension", "InputImpl", "io", "ExecutionBlocker", "VIDEO_CROP", "ADVANCED_INPUTS", "advanced",
           "CATEGORY", "SAMPLERS", "SCHEDULERS", "MAX_SEED", "STEP", "RECIPE", "folders", "Progress",
           "expansion_prefix", "vace_encode", "first_last_encode", "vae_decode", "encode_clip_vision", "interrupted",
           "model_files", "node_context"]

CATEGORY = "video/segue"
SAMPLERS = list(comfy.samplers.KSampler.SAMPLERS)
SCHEDULERS = list(comfy.samplers.KSampler.SCHEDULERS)
MAX_SEED = 0xFFFFFFFFFFFFFFFF
# A segment / transition to generate (video_utils.engine.steps), and a generation recipe.
STEP = io.Custom("SEGUE_STEP")
RECIPE = io.Custom("SEGUE_RECIPE")

# What this ComfyUI's API offers, detected once (0.3.64 has none of it):
# file-backed VIDEOs that carry a crop (``VideoFromFile(..., crop=)``, ``as_cropped``; after 0.27);
VIDEO_CROP = "crop" in inspect.signature(InputImpl.VideoFromFile.__init__).parameters
# expert inputs the frontend folds away (``advanced=`` on schema inputs; 0.27).
ADVANCED_INPUTS = "advanced" in inspect.signature(io.Input.__init__).parameters


def advanced(inputs: list, *ids: str) -> list:
    """``inputs`` with the expert ones (those named in ``ids``; all when none are named) marked
    ``advanced``: ComfyUI 0.27's frontend shows a node's essentials and folds these behind its
    "show advanced inputs" toggle. Older schemas have no such field and show every input; either
    way nothing else changes (values, order, links, saved workflows)."""
    names = set(ids) or {i.id for i in inputs}
    missing = names - {i.id for i in inputs}
    if missing:
        raise ValueError(f"advanced(): no input named {sorted(missing)}")
    if ADVANCED_INPUTS:
        for i in inputs:
            if i.id in names:
                i.advanced = True
    return inputs


def expansion_prefix() -> str:
    """A fresh node-id prefix for a node expansion (ComfyUI's own allocator: unique per call)."""
    return GraphBuilder.alloc_prefix()


def vace_encode(positive, negative, vae, width, height, length, strength, control_video, control_masks,
                reference_image=None) -> tuple:
    """Core ``WanVaceToVideo`` (batch 1): (positive, negative, latent, trim_latent)."""
    return WanVaceToVideo.execute(positive=positive, negative=negative, vae=vae, width=width, height=height,
                                  length=length, batch_size=1, strength=strength, control_video=control_video,
                                  control_masks=control_masks, reference_image=reference_image).args


def first_last_encode(positive, negative, vae, width, height, length, start_image, end_image,
                      clip_vision_start=None, clip_vision_end=None) -> tuple:
    """Core ``WanFirstLastFrameToVideo`` (batch 1): (positive, negative, latent)."""
    return WanFirstLastFrameToVideo.execute(positive=positive, negative=negative, vae=vae, width=width,
                                            height=height, length=length, batch_size=1, start_image=start_image,
                                            end_image=end_image, clip_vision_start_image=clip_vision_start,
                                            clip_vision_end_image=clip_vision_end).args


def encode_clip_vision(clip_vision, image):
    """Core ``CLIPVisionEncode`` (centre crop) of one image."""
    return clip_vision.encode_image(image, crop=True)


def vae_decode(vae, samples):
    """Core ``VAEDecode``: IMAGE [frames, H, W, 3]."""
    return VAEDecode().decode(vae, samples)[0]


def interrupted() -> None:
    """Raise if the user pressed Cancel (ComfyUI's interrupt)."""
    comfy.model_management.throw_exception_if_processing_interrupted()


def folders() -> Folders:
    """ComfyUI's input/output/temp folders as this server configured them."""
    return Folders(
        input=folder_paths.get_input_directory(),
        output=folder_paths.get_output_directory(),
        temp=folder_paths.get_temp_directory(),
    )


def node_context() -> NodeContext:
    """What the node bodies (``video_utils.engine.executor``) need from ComfyUI: its folders, and
    its progress bar (which honours Cancel)."""
    return NodeContext(folders(), Progress)


class Progress:
    """ComfyUI progress bar of the running node; every update also honours Cancel.

    ``callback`` fits video_utils' ``progress(done, total)`` parameters.
    """

    def __init__(self, total: int):
        self.bar = comfy.utils.ProgressBar(max(int(total), 1))

    def __call__(self, done: int, total: int | None = None) -> None:
        interrupted()
        if total:
            self.bar.update_absolute(int(done), int(total))
        else:
            self.bar.update_absolute(int(done))



def model_files(kind: str) -> list[str]:
    """Files ComfyUI lists for a model folder (``loras``, ``diffusion_models`` ...)."""
    return list(folder_paths.get_filename_list(kind))
