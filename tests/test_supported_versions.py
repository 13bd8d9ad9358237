"""The supported ComfyUI versions are stated once and alike: pyproject.toml's Comfy Registry field
``requires-comfyui``, the README, and the ComfyUI releases the integration tests run against (the
tarballs in ../shared/comfyui/, when the clone sits beside them as in CI)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "comfyui"


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_minimum_and_tested_versions_agree():
    comfy = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["comfy"]
    minimum = re.fullmatch(r">=\s*([0-9.]+)", comfy["requires-comfyui"]).group(1)
    readme = (REPO / "README.md").read_text()
    stated = re.search(r"\*\*Supported ComfyUI: ([0-9.]+) or newer\*\*", readme).group(1)
    tested = re.search(r"\*\*tested: ([0-9.]+) and ([0-9.]+)\*\*", readme).groups()
    assert stated == minimum == min(tested, key=version_key)
    shipped = sorted((re.fullmatch(r"ComfyUI-([0-9.]+)\.tar\.gz", p.name).group(1)
                      for p in SHARED.glob("**/ComfyUI-*.tar.gz")), key=version_key)
    if shipped:                                   # CI and the developers' machines have ../shared
        assert sorted(tested, key=version_key) == shipped
