"""The pack as a user installs it, not as this checkout runs it: the wheel holds every package,
the bundled keyframes and the example workflows; installed without ``-e`` (in a folder of its
own, outside the repository), ``segue demo`` renders and the samples the pack puts into ComfyUI's
input folder are made.  The wheel is built once per session (a few seconds, no network)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def source_tree(dest: Path) -> Path:
    """The files a fresh clone has (tracked, or new and not ignored): an in-place build would reuse
    a stale build/ folder and hide a file the package data misses."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = source_tree(tmp_path_factory.mktemp("source"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(out), str(source)], check=True, capture_output=True, cwd=out)
    [built] = out.glob("segue-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed (no -e) into a folder of its own; put first on PYTHONPATH it wins over
    this checkout's editable install."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    return site


def run_installed(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240)


def test_every_package_of_the_tree_is_packaged(wheel):
    packages = {str(p.parent.relative_to(REPO)).replace(os.sep, ".") for p in REPO.rglob("__init__.py")
                if not any(part.startswith(".") or part in ("tests", "build") for part in p.relative_to(REPO).parts)}
    expected = {"segue" if name == "." else f"segue.{name}" for name in packages}
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    shipped |= {"segue"} if "segue/__init__.py" in names else set()
    assert expected <= shipped, f"not in the wheel (add them to pyproject's packages): {sorted(expected - shipped)}"
    for asset in ("segue/assets/keyframes/keyframe_0.png", "segue/assets/keyframes/keyframe_3.png",
                  "segue/example_workflows/segue_travel_preview_cpu.json",
                  "segue/example_workflows/segue_travel_preview_cpu.jpg"):
        assert asset in names, asset


def test_segue_demo_runs_from_the_installed_wheel(installed, tmp_path):
    code = (f"import sys, segue; assert segue.__file__.startswith({str(installed)!r}), segue.__file__; "
            f"from segue.orchestration.cli import main; sys.exit(main(['demo', '--frames', '16', '--out', 'demo.mp4']))")
    done = run_installed(installed, code, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keyframes at frames: 0 16 32 48" in done.stdout
    from segue.video_utils.core.probe import probe
    assert probe(tmp_path / "demo.mp4").frame_count == 49


def test_the_comfyui_samples_are_made_from_the_installed_wheel(installed, tmp_path):
    code = (f"from segue.video_utils.engine.samples import BUNDLED_KEYFRAMES, install_samples; "
            f"assert str(BUNDLED_KEYFRAMES).startswith({str(installed)!r}), BUNDLED_KEYFRAMES; "
            f"print(len(install_samples('input')))")
    done = run_installed(installed, code, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "input" / "segue_samples"
    assert sorted(p.name for p in folder.glob("keyframe_*.png")) == [f"keyframe_{i}.png" for i in range(4)]
    assert sorted(p.name for p in folder.glob("clip_*.mp4")) == ["clip_1.mp4", "clip_2.mp4", "clip_3.mp4"]
    assert done.stdout.strip() == "7"
