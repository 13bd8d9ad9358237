"""The one registration module: every Segue node, handed to ComfyUI through ``comfy_entrypoint``."""

from __future__ import annotations

from .api import ComfyExtension, io
from . import (encode_nodes, generator_nodes, guide_nodes, io_nodes, join_nodes, recipe_nodes, save_nodes, step_nodes,
               stitch_nodes, travel_nodes)

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
]


class SegueExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(ALL_NODES)
