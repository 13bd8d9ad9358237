"""Batches: ``segue run`` with several plan files, a folder of them, or a JSONL of plans runs them
as one queue over the servers, each with its own run directory, manifest and resume, and
``segue status`` shows all of them.  On the in-process fake ComfyUI (runs everywhere)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_comfy import FakeComfy, count_frames, write_video  # noqa: E402

from segue.orchestration.cli import main  # noqa: E402
from segue.orchestration.server.manifest import Manifest  # noqa: E402
from segue.orchestration.runs.plan_files import batch_run_id, load_plan  # noqa: E402


@pytest.fixture
def server(tmp_path):
    fake = FakeComfy(tmp_path / "server", delay=0.02).start()
    yield fake
    fake.stop()


def inputs(tmp_path):
    for i in range(3):
        (tmp_path / f"k{i}.png").write_bytes(b"png %d" % i)
    for i in range(2):
        write_video(tmp_path / f"c{i}.mkv", 24, seed=i)


def plans(tmp_path) -> list[dict]:
    return [
        {"segue_plan": 1, "kind": "travel", "images": ["k0.png", "k1.png", "k2.png"], "segment_frames": 12,
         "overlap": 3, "output_dir": "runs"},
        {"segue_plan": 1, "kind": "join", "clips": ["c0.mkv", "c1.mkv"], "context": 3, "gap": 5, "output_dir": "runs",
         "run_id": "the-join"},
        {"segue_plan": 1, "kind": "travel", "images": ["k2.png", "k0.png"], "segment_frames": 16, "overlap": 3,
         "mode": "independent", "output_dir": "runs"},
    ]


def check_runs(runs: Path, expected: dict[str, str]) -> None:
    """Each run directory: its manifest done, every step verified, the final video the plan's length."""
    assert sorted(p.name for p in runs.iterdir()) == sorted(expected)
    for run_id, source in expected.items():
        manifest = Manifest.load(runs / run_id)
        assert manifest.data["status"] == "done" and all(manifest.verify(s) for s in manifest.steps)
        plan = manifest.run().plan()
        assert count_frames(runs / run_id / "final.mp4") == plan.total_frames == manifest.steps["final"].frames


def plan_files(tmp_path) -> list:
    """The three plans written as plan0.json .. plan2.json."""
    files = []
    for i, plan in enumerate(plans(tmp_path)):
        files.append(tmp_path / f"plan{i}.json")
        files[-1].write_text(json.dumps(plan))
    return files


def test_three_plan_files_run_as_one_queue_and_resume(tmp_path, server, capsys):
    inputs(tmp_path)
    files = plan_files(tmp_path)
    argv = ["run", *map(str, files), "--server", server.url, "--no-progress", "--window", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "batch: 3 of 3 runs done" in out
    check_runs(tmp_path / "runs", {"plan0": "plan0.json", "the-join": "plan1.json", "plan2": "plan2.json"})
    first = server.submitted[0][1]
    assert any(n["class_type"] == "SegueTravelStep" for n in first.values())     # plans are served in order
    submitted = len(server.submitted)
    assert main(argv) == 0                                  # the same batch again: every run resumes, all done
    assert len(server.submitted) == submitted
    assert "resuming run plan0" in capsys.readouterr().err

    assert main(["status", str(tmp_path / "runs"), "--offline"]) == 0
    status = capsys.readouterr().out
    for run_id in ("plan0", "the-join", "plan2"):
        assert f"run {run_id} (" in status
    assert "3 runs: 3 done" in status
    assert main(["status", str(tmp_path / "runs" / "plan0"), str(tmp_path / "runs" / "plan2"), "--offline"]) == 0
    assert "2 runs: 2 done" in capsys.readouterr().out


def test_a_folder_and_a_jsonl_of_plans_are_batches(tmp_path, server, capsys):
    inputs(tmp_path)
    folder = tmp_path / "queue"
    folder.mkdir()
    for i, plan in enumerate(plans(tmp_path)[:2]):
        plan = {**plan, "images": [f"../{p}" for p in plan.get("images", [])]} if plan["kind"] == "travel" else \
            {**plan, "clips": [f"../{c}" for c in plan["clips"]]}
        (folder / f"{i}-job.json").write_text(json.dumps({**plan, "output_dir": "../runs"}))
    assert main(["run", str(folder), "--server", server.url, "--no-progress"]) == 0
    check_runs(tmp_path / "runs", {"0-job": "", "the-join": ""})
    jsonl = tmp_path / "night.jsonl"
    jsonl.write_text("\n".join(json.dumps({**p, "output_dir": "more"}) for p in plans(tmp_path)) + "\n")
    assert main(["run", str(jsonl), "--server", server.url, "--no-progress"]) == 0
    check_runs(tmp_path / "more", {"night-1": "", "the-join": "", "night-3": ""})
    capsys.readouterr()


def test_a_failing_run_does_not_stop_the_others(tmp_path, server, capsys):
    inputs(tmp_path)
    files = plan_files(tmp_path)
    server.fail.add("trans_000")
    assert main(["run", *map(str, files), "--server", server.url, "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "batch: 2 of 3 runs done" in captured.out
    assert "segue: run the-join: error: trans_000" in captured.err
    assert Manifest.load(tmp_path / "runs" / "the-join").data["status"] == "failed"
    assert Manifest.load(tmp_path / "runs" / "plan2").data["status"] == "done"
    assert main(["resume", str(tmp_path / "runs" / "the-join"), "--no-progress"]) == 0   # fails once only
    capsys.readouterr()


def test_batch_run_ids_come_from_the_file_names(tmp_path):
    assert batch_run_id("sunset.json") == "sunset"
    assert batch_run_id("night shots.jsonl:12") == "night-shots-12"
    assert batch_run_id("...json") == "plan"
    plan = tmp_path / "p.json"
    plan.write_text(json.dumps(plans(tmp_path)[0]))
    assert load_plan(plan).run_id == ""                     # a single plan keeps generating one
