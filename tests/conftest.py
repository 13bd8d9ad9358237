"""Shared fixtures. Integration tests against a real ComfyUI are marked ``comfyui`` and skip with
the reason when no ComfyUI install is found (see tests/comfyui_harness.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ only, for comfyui_harness

from comfyui_harness import ComfyServer, comfyui_install  # noqa: E402


@pytest.fixture(scope="session")
def comfyui_available():
    install = comfyui_install()
    if isinstance(install, str):
        pytest.skip(install)
    return install


@pytest.fixture(scope="session")
def comfy_server(comfyui_available, tmp_path_factory):
    """One shared server for the session (start-up costs ~12 s)."""
    server = ComfyServer(tmp_path_factory.mktemp("comfy_base")).start()
    yield server
    server.stop()
