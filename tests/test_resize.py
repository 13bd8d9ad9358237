"""resize.py is a shim over conform.py until its callers switch (the tests live in test_conform.py)."""

from __future__ import annotations

from segue.video_utils import conform, resize


def test_resize_is_the_conform_stage():
    assert resize.conform_frames is conform.conform_frames
    assert resize.conform_keyframes is conform.conform_keyframes
    assert resize.load_image is conform.load_image
