"""Former home of the size conform; it now lives in ``conform.py`` (orientation, crop/pad/stretch).

Kept only so the callers not yet switched keep working (``nodes/io_nodes.py``,
``nodes/join_nodes.py``, ``video_utils/local_render.py``, ``orchestration/cli.py``); delete it
once they import from ``conform`` directly.
"""

from .conform import conform_frames, conform_keyframes, load_image

__all__ = ["conform_frames", "conform_keyframes", "load_image"]
