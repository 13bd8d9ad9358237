"""Segue's pixel engine: decoding and encoding (PyAV), the conform stage, guides, the preview
generator, cross-fades, stitching, assembly and sound, in torch, NumPy and OpenCV.

It builds on ``video_utils.core`` (plans, sizes, probing) and is used by the ComfyUI nodes
(``nodes``) and by the in-process executor of step prompts (``executor``) that renders on this
machine.  No ComfyUI imports.
"""
