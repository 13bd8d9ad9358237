"""Segue's torch-free core: plans and timelines, lengths and sizes, the recipe, the one graph
builder, media probing (PyAV) and atomic writes.

Nothing here imports torch or OpenCV, so the orchestrator (``orchestration``) plans, builds
prompts and probes clips without them; ``tests/test_layout.py`` imports this package and the
orchestrator with torch blocked.  The pixels are ``video_utils.engine``.
"""
