"""The one registration module: every Segue node, handed to ComfyUI through ``comfy_entrypoint``."""

from __future__ import annotations

from .api import ComfyExtension, io
from . import generator_nodes, guide_nodes, io_nodes, join_nodes, stitch_nodes, travel_nodes

ALL_NODES: list[type[io.ComfyNode]] = [
    *io_nodes.NODES,
    *guide_nodes.NODES,
    *generator_nodes.NODES,
    *stitch_nodes.NODES,
    *join_nodes.NODES,
    *travel_nodes.NODES,
]


class SegueExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(ALL_NODES)
