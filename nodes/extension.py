"""The one registration module: every Segue node, handed to ComfyUI through ``comfy_entrypoint``."""

from __future__ import annotations

import logging

from ..video_utils.engine.samples import install_samples
from . import (encode_nodes, extend_nodes, generator_nodes, guide_nodes, io_nodes, join_nodes, recipe_nodes,
               save_nodes, step_nodes, stitch_nodes, travel_nodes)
from .api import ComfyExtension, folders, io

ALL_NODES: list[type[io.ComfyNode]] = [
    *io_nodes.NODES,
    *guide_nodes.NODES,
    *generator_nodes.NODES,
    *stitch_nodes.NODES,
    *join_nodes.NODES,
    *travel_nodes.NODES,
    *recipe_nodes.NODES,
    *step_nodes.NODES,
    *encode_nodes.NODES,
    *save_nodes.NODES,
    *extend_nodes.NODES,
]


def _install_samples() -> None:
    """Sample keyframes and clips in input/segue_samples/ for the model-free examples."""
    try:
        install_samples(folders().input)
    except OSError as e:  # a read-only input folder must not stop the pack from loading
        logging.warning("Segue: could not write the sample inputs into input/segue_samples: %s", e)


class SegueExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        # ComfyUI 0.3.64 never calls ComfyExtension.on_load; this runs once, when the pack loads.
        _install_samples()
        return list(ALL_NODES)
