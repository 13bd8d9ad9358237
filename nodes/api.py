"""The one place Segue touches ComfyUI's Python API.

``comfy_api.latest`` is explicitly unstable upstream, so every import of ComfyUI's packages
(V3 schema, VIDEO classes, folders, progress bar, graph builder) lives here and the node modules
use these names only.
"""

from __future__ import annotations

import folder_paths
from comfy_api.latest import ComfyExtension, InputImpl, io
from comfy_execution.graph_utils import ExecutionBlocker, GraphBuilder

import comfy.model_management
import comfy.samplers
import comfy.utils

from .paths import Folders

__all__ = ["ComfyExtension", "InputImpl", "io", "ExecutionBlocker", "GraphBuilder", "CATEGORY", "SAMPLERS",
           "SCHEDULERS", "PRESETS", "MAX_SEED", "folders", "Progress"]

CATEGORY = "video/segue"
SAMPLERS = list(comfy.samplers.KSampler.SAMPLERS)
SCHEDULERS = list(comfy.samplers.KSampler.SCHEDULERS)
PRESETS = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
MAX_SEED = 0xFFFFFFFFFFFFFFFF


def folders() -> Folders:
    """ComfyUI's input/output/temp folders as this server configured them."""
    return Folders(
        input=folder_paths.get_input_directory(),
        output=folder_paths.get_output_directory(),
        temp=folder_paths.get_temp_directory(),
    )


class Progress:
    """ComfyUI progress bar of the running node; every update also honours Cancel.

    ``callback`` fits video_utils' ``progress(done, total)`` parameters.
    """

    def __init__(self, total: int):
        self.bar = comfy.utils.ProgressBar(max(int(total), 1))

    def __call__(self, done: int, total: int | None = None) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        if total:
            self.bar.update_absolute(int(done), int(total))
        else:
            self.bar.update_absolute(int(done))

