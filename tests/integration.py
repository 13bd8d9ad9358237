"""Skip or fail an integration test that cannot run (see tests/conftest.py).

With a ComfyUI asked for (``SEGUE_COMFYUI_SOURCE`` or ``SEGUE_COMFYUI_DIR`` set, as in CI), a test
that lacks ComfyUI, Chromium or Playwright fails with the reason: a skip must not hide a broken
install step.  Otherwise it skips with the reason.
"""

from __future__ import annotations

import os

import pytest


def integration_required() -> bool:
    return bool(os.environ.get("SEGUE_COMFYUI_SOURCE") or os.environ.get("SEGUE_COMFYUI_DIR"))


def unavailable(reason: str):
    if integration_required():
        pytest.fail(f"integration test cannot run although a ComfyUI was asked for: {reason}", pytrace=False)
    pytest.skip(reason)
