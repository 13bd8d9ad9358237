"""Long-video entry points of the command line, on this machine and through a real ComfyUI:
one image (``segue travel photo.png --frames 48`` -> 49 frames), seamless loops (``--loop`` on
travel and join), extending a clip (``segue extend CLIP --frames F --to IMAGE``) and a batch of
three plans, each decoded back and compared with its plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media import write_clip  # noqa: E402

from segue.orchestration.cli import main  # noqa: E402
from segue.orchestration.server.manifest import Manifest  # noqa: E402
from segue.video_utils.core.extend_plan import plan_extend  # noqa: E402
from segue.video_utils.core.join_plan import plan_join  # noqa: E402
from segue.video_utils.core.travel_plan import plan_travel  # noqa: E402

COLOURS = [(230, 30, 30), (30, 230, 30), (30, 30, 230)]


def keyframes(folder: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:] = COLOURS[i][::-1]
        img[:, : 6 * i + 4] = 255
        cv2.imwrite(str(folder / f"k{i}.png"), img)
        paths.append(str(folder / f"k{i}.png"))
    return paths


def clips(folder: Path, n: int, frames: int = 40) -> list[str]:
    return [str(write_clip(folder / f"c{i}.mp4", 64, 48, fps=16, frames=frames)) for i in range(n)]


def decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def right_colour(frame: np.ndarray) -> np.ndarray:
    return frame[:, 40:].reshape(-1, 3).mean(0)


def server_args(tmp_path, server) -> list[str]:
    return ["--server", server.url, "--runs-dir", str(tmp_path / "runs"), "--no-progress"] if server else []


def one_image(tmp_path, capsys, server=None):
    image = keyframes(tmp_path, 1)[0]
    out = tmp_path / "one.mp4"
    assert main(["travel", image, "--frames", "48", "--method", "blend", "--out", str(out),
                 *server_args(tmp_path, server)]) == 0
    capsys.readouterr()
    frames = decode(out)
    assert frames.shape == (49, 48, 64, 3)
    assert np.abs(right_colour(frames[0]) - COLOURS[0]).max() < 20       # starts on the image


def loop_travel(tmp_path, capsys, server=None):
    images = keyframes(tmp_path, 3)
    out = tmp_path / "loop.mp4"
    assert main(["travel", *images, "--frames", "16", "--overlap", "4", "--loop", "--method", "blend",
                 "--out", str(out), *server_args(tmp_path, server)]) == 0
    capsys.readouterr()
    plan = plan_travel(3, 16, 4, loop=True)
    frames = decode(out)
    assert frames.shape[0] == plan.total_frames == 48
    for k, position in enumerate(plan.keyframe_frames):
        assert np.abs(right_colour(frames[position]) - COLOURS[k]).max() < 25, (k, position)
    # seamless: the last frame leads into the first as smoothly as neighbouring frames do
    steps = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    seam = np.abs(frames[-1].astype(np.float32) - frames[0]).mean()
    assert seam <= steps.max() + 1.0, (seam, steps.max())


def loop_join(tmp_path, capsys, server=None):
    paths = clips(tmp_path, 2)
    out = tmp_path / "jloop.mp4"
    assert main(["join", *paths, "--context", "4", "--gap", "9", "--loop", "--method", "blend", "--out", str(out),
                 *server_args(tmp_path, server)]) == 0
    capsys.readouterr()
    plan = plan_join([40, 40], 4, 9, loop=True, generation_fps=16, output_fps=16)
    assert len(plan.joins) == 2
    assert decode(out).shape[0] == plan.total_frames


def extend(tmp_path, capsys, server=None):
    clip = clips(tmp_path, 1)[0]
    target = keyframes(tmp_path, 3)[2]
    out = tmp_path / "ext.mp4"
    assert main(["extend", clip, "--frames", "60", "--to", target, "--overlap", "6", "--method", "blend",
                 "--out", str(out), *server_args(tmp_path, server)]) == 0
    capsys.readouterr()
    plan = plan_extend(40, 60, 6, keyframe_count=1)
    frames, original = decode(out), decode(clip)
    assert frames.shape[0] == plan.total_frames == 100
    assert np.abs(frames[:40].astype(np.int16) - original).mean() < 3      # the clip is kept
    assert np.abs(right_colour(frames[-1]) - COLOURS[2]).max() < 25       # lands on the --to image


ENTRY_POINTS = {"one-image": one_image, "loop-travel": loop_travel, "loop-join": loop_join, "extend": extend}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_long_video_entry_points_on_this_machine(name, tmp_path, capsys):
    ENTRY_POINTS[name](tmp_path, capsys)


@pytest.mark.comfyui
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_long_video_entry_points_through_comfyui(name, tmp_path, capsys, comfy_server):
    ENTRY_POINTS[name](tmp_path, capsys, comfy_server)
    run_dir = next((tmp_path / "runs").iterdir())
    manifest = Manifest.load(run_dir)
    assert manifest.data["status"] == "done" and all(manifest.verify(s) for s in manifest.steps)


@pytest.mark.comfyui
def test_a_batch_of_three_plans_through_comfyui(tmp_path, capsys, comfy_server):
    keyframes(tmp_path, 3)
    clips(tmp_path, 2)
    plans = {
        "travel": {"kind": "travel", "images": ["k0.png", "k1.png", "k2.png"], "segment_frames": 14, "overlap": 4},
        "loop": {"kind": "travel", "images": ["k1.png", "k2.png"], "segment_frames": 16, "overlap": 4, "loop": True,
                 "mode": "independent"},
        "join": {"kind": "join", "clips": ["c0.mp4", "c1.mp4"], "context": 4, "gap": 9, "replace": True},
    }
    files = []
    for name, plan in plans.items():
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps({"segue_plan": 1, **plan, "output_dir": "runs",
                                         "generator": {"kind": "preview", "preview_method": "blend"}}))
    assert main(["run", *map(str, files), "--server", comfy_server.url, "--no-progress"]) == 0
    assert "batch: 3 of 3 runs done" in capsys.readouterr().out
    expected = {"travel": plan_travel(3, 14, 4).total_frames, "loop": plan_travel(2, 16, 4, loop=True).total_frames,
                "join": 80}
    for name, frames in expected.items():
        manifest = Manifest.load(tmp_path / "runs" / name)
        assert manifest.data["status"] == "done"
        assert decode(tmp_path / "runs" / name / "final.mp4").shape[0] == frames == manifest.steps["final"].frames
    assert main(["status", str(tmp_path / "runs")]) == 0
    assert "3 runs: 3 done" in capsys.readouterr().out
