"""Faults injected into whole runs against the fake ComfyUI (tests/fake_comfy.py), one per test.

Each test breaks one thing a real deployment breaks (the websocket, the network, the server, the
disk, a second process) and checks the run either survives it or stops with a clear message, the
documented exit code, a resume offer only where a resume cures it, and nothing half-written.
The same faults against a real ComfyUI are in test_orchestration_comfyui.py.
"""

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from segue.orchestration import cli
from segue.orchestration.server.client import ComfyClient
from segue.orchestration.runs.models import run_inputs
from segue.orchestration.errors import ServerNotAnswering
from segue.orchestration.server.manifest import Manifest
from segue.orchestration.cli import PlanFileCommand, RunDirCommand
from segue.orchestration.cli import RunOptions
from segue.orchestration.server import ConnectionOptions
from segue.orchestration.runs.plan_files import save_plan
from segue.orchestration.runs.models import TravelRun
from segue.orchestration.progress import Progress
from segue.orchestration.server.runner import Runner
from segue.orchestration.runs.steps import travel_steps
from segue.video_utils.core.atomic import is_temp_name

from background import run_in_background
from fake_comfy import SERVER_ROOT, Fault, FakeComfy, count_frames

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake(tmp_path):
    server = FakeComfy(tmp_path / "srv").start()
    yield server
    server.stop()


def travel(tmp_path, run_id, n=4, **kw):
    images = []
    for i in range(n):
        p = tmp_path / f"key{i}.png"
        p.write_bytes(b"png %d" % i)
        images.append(str(p))
    return TravelRun(images=images, segment_frames=12, overlap=3, run_id=run_id, output_dir=str(tmp_path / "runs"), **kw)


def plan_file(tmp_path, run):
    path = tmp_path / f"{run.run_id}.json"
    save_plan(run, path)
    return path


def run_cli(tmp_path, run, servers, capsys=None, **kw):
    """``segue run PLAN --server ...`` -> (exit code, stderr lines)."""
    kw.setdefault("server_timeout", 2.0)
    code = cli.cmd_run(PlanFileCommand(plan_file(tmp_path, run), RunOptions(),
                                            ConnectionOptions(servers=list(servers), no_progress=True, **kw)))
    return code, (capsys.readouterr().err.strip().splitlines() if capsys else [])


def resume(run_dir, servers=()):
    return cli.cmd_resume(RunDirCommand(Path(run_dir), connection=ConnectionOptions(
        servers=list(servers), no_progress=True, server_timeout=2.0)))


def new_runner(run, servers, stream=None, timeout=5.0, **kw):
    plan = run.validate()
    manifest = Manifest.create(Path(run.output_dir) / run.run_id, run, plan.to_dict(), travel_steps(plan),
                               run_inputs(run), "fault-client")
    progress = Progress(f"travel {run.run_id}", list(manifest.steps), stream=stream or io.StringIO())
    kw.setdefault("poll_s", 0.05)
    kw.setdefault("server_timeout", 2.0)
    return Runner(manifest, [ComfyClient(s.url, timeout=timeout) for s in servers], progress, **kw)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if is_temp_name(p.name)]


def saved_steps(fake):
    return [p["save"]["inputs"]["filename"].rsplit("/", 1)[-1] if "save" in p else "final" for _, p in fake.submitted]


# --- the event stream -------------------------------------------------------------------------------

def test_progress_and_node_names_come_from_the_websocket(tmp_path, fake):
    stream = io.StringIO()
    r = new_runner(travel(tmp_path, "ws1", n=2), [fake], stream=stream, poll_s=5.0, silence_s=60)
    final = r.execute()
    assert count_frames(final) == r.plan.total_frames
    log = stream.getvalue().splitlines()
    assert any(line.endswith("seg_000 running on " + fake.url.split("://")[1]) for line in log)
    assert [line.rsplit(" ", 1)[-1] for line in log if "seg_000 on" in line] == ["1/4", "2/4", "3/4", "4/4"]
    # with poll_s=5 and no websocket the run could not have finished this fast: events drove it
    assert sum(1 for m, p in fake.requests if p.startswith("/history")) <= 4


def test_websocket_dropped_mid_run_falls_back_to_polling_and_finishes(tmp_path, fake):
    fake.delay = 0.2
    r = new_runner(travel(tmp_path, "ws2"), [fake])
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("final", r.execute()))
    thread.start()
    deadline = time.monotonic() + 20
    while r.manifest.steps["seg_000"].state != "done" and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.no_websocket = True                 # it does not come back
    fake.drop_websockets()
    polled_before = sum(1 for _, p in fake.requests if p.startswith("/history"))
    thread.join(30)
    assert count_frames(outcome["final"]) == r.plan.total_frames
    assert sum(1 for _, p in fake.requests if p.startswith("/history")) > polled_before
    assert saved_steps(fake) == ["seg_000", "seg_001", "seg_002", "final"]       # nothing twice
    assert ("GET", "/ws") in fake.requests[-200:]                                # it kept trying to reconnect


def test_an_execution_error_on_the_websocket_names_node_and_exception_without_server_paths(tmp_path, fake, capsys):
    fake.fail = {"seg_001"}
    fake.error_in_history = False            # the record only goes out on the websocket
    run = travel(tmp_path, "ws3")
    code, err = run_cli(tmp_path, run, [fake.url], capsys)
    assert code == 1
    assert err[0] == (f"segue: error: seg_001 failed on {fake.url.split('://')[1]}: node save (SeguePreviewStep): "
                      f"ValueError: fake failure reading seg_001.png")
    assert not any(SERVER_ROOT in line or "Traceback" in line or "line 496" in line for line in err)
    assert err[1].startswith("segue: hint: this repeats as it is: fix what node save (SeguePreviewStep) reports")
    assert "segue resume" not in err[1]                  # a retry as it is would fail again
    state = Manifest.load(tmp_path / "runs" / "ws3")
    assert state.steps["seg_001"].state == "failed" and state.steps["seg_002"].state == "pending"


# --- the network and the server ---------------------------------------------------------------------

def test_transient_5xx_and_connection_resets_are_absorbed(tmp_path, fake):
    fake.faults += [Fault("GET", "/queue", status=503, retry_after="0", times=3),
                    Fault("POST", "/prompt", reset="after"),        # queued, but the answer is lost
                    Fault("POST", "/prompt", status=502),            # not queued, answered 502
                    Fault("HEAD", "/view", reset="before", times=2),
                    Fault("GET", "/view", status=504, retry_after="0"),
                    Fault("POST", "/upload/image", reset="before")]
    r = new_runner(travel(tmp_path, "net1"), [fake])
    sleeps = []
    for server in r.pool:
        server.client.sleep = sleeps.append
    final = r.execute()
    assert count_frames(final) == r.plan.total_frames
    assert all(f.times == 0 for f in fake.faults)                   # every fault was hit ...
    assert saved_steps(fake) == ["seg_000", "seg_001", "seg_002", "final"]       # ... and nothing ran twice
    assert 0.0 in sleeps and len(sleeps) >= 9                       # Retry-After: 0 honoured, backoff otherwise
    assert all(s <= 8.0 for s in sleeps)


def test_a_rejected_prompt_names_node_and_input_exits_2_and_submits_nothing_else(tmp_path, fake, capsys):
    node_errors = {"save": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                        "details": "preset: 'x' not in ['fast']", "extra_info": {"input_name": "preset"}}],
                            "dependent_outputs": ["save"], "class_type": "SeguePreviewStep"}}
    fake.faults.append(Fault("POST", "/prompt", status=400, body={
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                  "details": ""}, "node_errors": node_errors}))
    code, err = run_cli(tmp_path, travel(tmp_path, "bad1", mode="independent"), [fake.url], capsys)
    assert code == 2
    assert err[0].endswith("rejected the prompt: Prompt outputs failed validation")
    assert err[1].startswith("segue: error:   node save (SeguePreviewStep")
    assert err[1].endswith("input preset: Value not in list: preset: 'x' not in ['fast']")
    assert err[-1].startswith("segue: hint: fix the inputs named above") and "resume" not in err[-1]
    assert [r for r in fake.requests if r == ("POST", "/prompt")] == [("POST", "/prompt")]   # window 2, yet one
    assert fake.submitted == []


def test_a_steps_file_missing_on_the_server_is_a_clear_resumable_error(tmp_path, fake, capsys):
    fake.no_output = {"seg_001"}
    run = travel(tmp_path, "miss1")
    code, err = run_cli(tmp_path, run, [fake.url], capsys)
    run_dir = tmp_path / "runs" / "miss1"
    assert code == 1
    assert "seg_001 finished on" in err[0] and "segue/miss1/seg_001.mkv is not in its output folder" in err[0]
    assert err[-1] == f"segue: hint: the step runs again on resume; then `segue resume {run_dir}` continues " \
                      f"(finished steps are kept)"
    assert not (run_dir / "seg_001.mkv").exists() and no_temp_files(run_dir)
    assert resume(run_dir) == 0                       # the fault is gone: resume finishes the run
    assert saved_steps(fake).count("seg_001") == 2 and saved_steps(fake).count("seg_000") == 1


def test_a_wrong_frame_count_fails_the_step_and_says_what_to_fix(tmp_path, fake, capsys):
    fake.wrong_frames = {"seg_000": 2}
    run = travel(tmp_path, "frames1", n=2)
    code, err = run_cli(tmp_path, run, [fake.url], capsys, retries=3)
    run_dir = tmp_path / "runs" / "frames1"
    assert code == 1
    assert err[0].endswith(f"seg_000: {fake.url.split('://')[1]} wrote 15 frames, the plan needs 13")
    assert "do not match this client" in err[1] and "segue resume" not in err[1]
    assert saved_steps(fake) == ["seg_000"]          # not retried: it would fail the same way
    assert not (run_dir / "seg_000.mkv").exists()     # the wrong file is not kept as the step's output


def test_out_of_memory_is_resumable_and_retried(tmp_path, fake, capsys):
    fake.oom = {"seg_000"}
    code, err = run_cli(tmp_path, travel(tmp_path, "oom1", n=2), [fake.url], capsys)
    assert code == 1
    assert "OutOfMemoryError: Allocation on device" in err[0] and "TIPS" not in err[0]
    assert "free memory on" in err[1] and "segue resume" in err[1]
    fake.oom = {"seg_000"}
    assert run_cli(tmp_path, travel(tmp_path, "oom2", n=2), [fake.url], retries=1)[0] == 0


def test_a_server_that_stops_answering_ends_the_run_with_a_clear_message(tmp_path, fake):
    r = new_runner(travel(tmp_path, "silent1"), [fake], timeout=0.5, silence_s=0.3, server_timeout=1.5)
    thread, outcome = run_in_background(r.execute)
    deadline = time.monotonic() + 20
    while r.manifest.steps["seg_000"].state != "done" and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.silent.set()
    t0 = time.monotonic()
    thread.join(30)
    fake.silent.clear()
    error = outcome["error"]
    assert isinstance(error, ServerNotAnswering) and error.exit_code == 3 and error.resumable
    assert f"{fake.url.split('://')[1]} has not answered for 2s" in str(error) and "within 0s" in str(error)
    assert time.monotonic() - t0 < 15
    assert r.manifest.steps["seg_000"].state == "done"


# --- the disk and the run directory ---------------------------------------------------------------

DISK_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails (EFBIG) instead of killing us
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from segue.orchestration.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_full_disk_while_downloading_leaves_nothing_half_written(tmp_path):
    fake = FakeComfy(tmp_path / "srv", frame_size=96).start()        # incompressible frames: ~330 kB a segment
    try:
        run = travel(tmp_path, "disk1", n=2)
        proc = subprocess.run([sys.executable, "-c", DISK_LIMITED, str(150_000), "run", str(plan_file(tmp_path, run)),
                               "--server", fake.url, "--no-progress", "--server-timeout", "5"],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
        run_dir = tmp_path / "runs" / "disk1"
        assert proc.returncode == 1, proc.stderr
        err = proc.stderr.strip().splitlines()
        assert err[0].startswith(f"segue: error: no space to write {run_dir / 'seg_000.mkv'} (File too large)")
        assert err[1].startswith(f"segue: hint: free space on the disk of {run_dir}; then `segue resume {run_dir}`")
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "manifest.json"]   # no file, no .part
        assert Manifest.load(run_dir).steps["seg_000"].state == "failed"
        assert resume(run_dir, [fake.url]) == 0                       # with space again, resume finishes
        assert count_frames(run_dir / "final.mp4") == run.plan().total_frames
    finally:
        fake.stop()


def test_a_second_run_on_the_same_run_directory_is_refused(tmp_path, fake):
    fake.paused.set()
    run = travel(tmp_path, "busy1")
    path = plan_file(tmp_path, run)
    first = {}
    thread = threading.Thread(target=lambda: first.setdefault("code", cli.cmd_run(PlanFileCommand(
        path, RunOptions(), ConnectionOptions(servers=[fake.url], no_progress=True)))))
    thread.start()
    deadline = time.monotonic() + 20
    while not fake.submitted and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        run_dir = str(tmp_path / "runs" / "busy1")
        for argv in (["run", str(path), "--server", fake.url, "--no-progress"],
                     ["resume", run_dir, "--no-progress"], ["cancel", run_dir]):
            proc = subprocess.run([sys.executable, "-m", "segue.orchestration.cli", *argv],
                                  capture_output=True, text=True, timeout=60, cwd=REPO)
            assert proc.returncode == 2, (argv, proc.stderr)
            assert "is in use by another segue process" in proc.stderr, proc.stderr
            assert "segue resume" not in proc.stderr
        assert len(fake.submitted) == 1                  # the refused ones submitted nothing
    finally:
        fake.paused.clear()
        thread.join(30)
    assert first["code"] == 0
    state = json.loads((tmp_path / "runs" / "busy1" / "manifest.json").read_text())
    assert state["status"] == "done"
