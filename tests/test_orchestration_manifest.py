"""The run directory's manifest: state machine, atomic writes, checksums, resume decisions, lock."""

import errno
import json
import os

import pytest

from segue.orchestration.errors import DiskFull, RunBusy
from segue.orchestration.server.manifest import IllegalTransition, Manifest, lock_run_dir
from segue.orchestration.server.resume import resume_action
from segue.video_utils.core.atomic import is_temp_name
from segue.orchestration.runs.models import TravelRun
from segue.orchestration.runs.steps import travel_steps
from segue.video_utils.core.errors import PlanError


def make(tmp_path, save=True):
    paths = []
    for i in range(3):
        (tmp_path / f"k{i}.png").write_bytes(b"png")
        paths.append(str(tmp_path / f"k{i}.png"))
    run = TravelRun(images=paths, segment_frames=16, overlap=4, run_id="m1", output_dir=str(tmp_path / "runs"))
    plan = run.validate()
    inputs = [{"path": p, "sha256": "0" * 64, "name": f"key_{i}.png"} for i, p in enumerate(paths)]
    return Manifest.create(tmp_path / "runs" / "m1", run, plan.to_dict(), travel_steps(plan), inputs, "cid",
                           save=save)


def test_manifest_round_trips_plan_and_steps(tmp_path):
    m = make(tmp_path)
    again = Manifest.load(m.run_dir)
    assert again.run_id == "m1" and again.client_id == "cid"
    assert list(again.steps) == ["seg_000", "seg_001", "final"]
    assert again.steps["seg_001"].depends_on == ["seg_000"]
    assert again.run() == m.run()
    assert [s.id for s in again.ready()] == ["seg_000"]


def test_unsaved_manifest_writes_nothing_until_saved(tmp_path):
    m = make(tmp_path, save=False)
    assert not Manifest.exists(m.run_dir)
    m.save()
    assert Manifest.exists(m.run_dir)


def test_legal_and_illegal_transitions(tmp_path):
    m = make(tmp_path)
    with pytest.raises(IllegalTransition):
        m.transition("seg_000", "done")                    # never submitted
    m.transition("seg_000", "submitted", prompt_id="p1", server="http://a")
    assert m.steps["seg_000"].attempts == 1
    m.transition("seg_000", "running")
    (m.run_dir / "seg_000.mkv").write_bytes(b"segment zero")
    m.mark_done("seg_000", __import__("hashlib").sha256(b"segment zero").hexdigest())
    assert [s.id for s in m.ready()] == ["seg_001"]
    with pytest.raises(IllegalTransition):
        m.transition("seg_000", "running")
    m.transition("seg_001", "submitted", prompt_id="p2", server="http://a")
    m.transition("seg_001", "failed", error="boom")
    with pytest.raises(IllegalTransition):
        m.transition("seg_001", "done")
    m.transition("seg_001", "pending")
    assert m.steps["seg_001"].error is None
    saved = json.loads((m.run_dir / "manifest.json").read_text())
    assert saved["steps"]["seg_000"]["state"] == "done" and saved["steps"]["seg_001"]["attempts"] == 1


def test_every_change_is_written_atomically(tmp_path, monkeypatch):
    m = make(tmp_path)
    before = (m.run_dir / "manifest.json").read_text()

    def crash(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(DiskFull, match="no space to write .*manifest.json"):
        m.transition("seg_000", "submitted", prompt_id="p", server="s")
    monkeypatch.undo()
    assert (m.run_dir / "manifest.json").read_text() == before       # the old version is intact
    assert Manifest.load(m.run_dir).steps["seg_000"].state == "pending"
    m.transition("seg_000", "submitted", prompt_id="p", server="s")
    assert Manifest.load(m.run_dir).steps["seg_000"].state == "submitted"
    assert not [p.name for p in m.run_dir.iterdir() if is_temp_name(p.name)]    # the failed write cleaned up


def test_verify_uses_size_and_checksum(tmp_path):
    import hashlib
    m = make(tmp_path)
    m.transition("seg_000", "submitted", prompt_id="p", server="s")
    path = m.run_dir / "seg_000.mkv"
    path.write_bytes(b"abc")
    m.mark_done("seg_000", hashlib.sha256(b"abc").hexdigest())
    assert m.verify("seg_000")
    path.write_bytes(b"abd")                                  # same size, other content
    assert not m.verify("seg_000")
    path.unlink()
    assert not m.verify("seg_000")


@pytest.mark.parametrize("state, local_ok, server, action", [
    ("done", True, None, "skip"),
    ("done", False, None, "refetch"),
    ("pending", False, None, "submit"),
    ("failed", False, None, "resubmit"),
    ("submitted", False, "queued", "wait"),
    ("running", False, "running", "wait"),
    ("running", False, "success", "collect"),
    ("running", False, "error", "resubmit"),
    ("submitted", False, "interrupted", "resubmit"),
    ("running", False, "unknown", "resubmit"),          # the server restarted and forgot it
    ("running", False, "unreachable", "wait_server"),
])
def test_resume_decisions(state, local_ok, server, action):
    assert resume_action(state, local_ok, server) == action


def test_a_run_directory_is_used_by_one_process(tmp_path):
    with lock_run_dir(tmp_path / "run"):
        with pytest.raises(RunBusy, match="in use"):
            with lock_run_dir(tmp_path / "run"):
                pass
    with lock_run_dir(tmp_path / "run"):
        pass


def test_loading_a_non_run_directory_says_what_to_give(tmp_path):
    with pytest.raises(PlanError, match="not a Segue run directory"):
        Manifest.load(tmp_path)
