"""Segue: travel between images and join clips with Wan 2.1/2.2 VACE, as ComfyUI nodes.

ComfyUI entry point only.  The node modules import ComfyUI's own packages, so they are loaded
lazily here: the pack stays importable (as ``segue``) by the CLI and tests outside ComfyUI.
"""


async def comfy_entrypoint():
    from .nodes.extension import SegueExtension

    return SegueExtension()
