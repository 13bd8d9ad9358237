"""The runner and the server commands against in-process fake ComfyUI servers (no ComfyUI needed).

The fakes keep queue and history in memory like ComfyUI (a stop loses them, files stay) and send
ComfyUI's websocket messages, so these runs exercise the event path, resume after a server
restart, scheduling over two servers, failures, cancel, detached runs and the commands' exit
codes.  Fault injection (websocket drops, HTTP faults, silence, full disks...) is in
test_orchestration_faults.py.
"""

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from segue.orchestration import cli
from segue.orchestration.server.client import ComfyClient
from segue.orchestration.runs.models import run_inputs
from segue.orchestration.errors import ServerUnreachable, StepFailed
from segue.orchestration.server.manifest import Manifest
from segue.orchestration.runs.plan_files import save_plan
from segue.orchestration.cli.status import status_lines
from segue.orchestration.runs.models import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.cli import PlanFileCommand, RunDirCommand
from segue.orchestration.cli import RunOptions
from segue.orchestration.server import ConnectionOptions
from segue.orchestration.server.start import server_clients
from segue.orchestration.server.runner import Runner
from segue.orchestration.server.scheduling import ServerLoad, choose_server
from segue.orchestration.runs.steps import join_steps, travel_steps

from fake_comfy import FakeComfy, count_frames, write_video


@pytest.fixture(params=[False, True], ids=["routes", "jobs-api"])
def fake(tmp_path, request):
    """The fake ComfyUI as 0.3.64 (status from /queue + /history) and as 0.27 (/api/jobs)."""
    server = FakeComfy(tmp_path / "server_a", jobs_api=request.param).start()
    yield server
    server.stop()


@pytest.fixture
def fake_b(tmp_path):
    server = FakeComfy(tmp_path / "server_b").start()
    yield server
    server.stop()


def keyframes(tmp_path, n):
    paths = []
    for i in range(n):
        p = tmp_path / f"key{i}.png"
        p.write_bytes(b"png %d" % i)
        paths.append(str(p))
    return paths


def travel_run(tmp_path, n=4, **kw):
    return TravelRun(images=keyframes(tmp_path, n), segment_frames=12, overlap=3, run_id=kw.pop("run_id", "t1"),
                     output_dir=str(tmp_path / "runs"), **kw)


def clips(tmp_path, n, frames=24):
    refs = []
    for i in range(n):
        p = tmp_path / f"clip{i}.mkv"
        write_video(p, frames, seed=i)
        refs.append(ClipRef(str(p), f"c{i}"))
    return refs


def new_manifest(run):
    plan = run.validate()
    steps = travel_steps(plan) if isinstance(run, TravelRun) else join_steps(plan)
    inputs = run_inputs(run)
    return Manifest.create(f"{run.output_dir}/{run.run_id}", run, plan.to_dict(), steps, inputs, "test-client")


def runner(manifest, *servers, **kw):
    kw.setdefault("poll_s", 0.05)
    kw.setdefault("server_timeout", 2.0)
    return Runner(manifest, [ComfyClient(s.url, timeout=5) for s in servers], **kw)


def connection(servers=(), **kw):
    kw.setdefault("server_timeout", 2.0)
    return ConnectionOptions(servers=list(servers), no_progress=True, **kw)


def run_cmd(plan, servers, out=None, detach=False, **kw):
    """``segue run PLAN --server ...`` as its options object."""
    return PlanFileCommand(plan, RunOptions(out=out, detach=detach), connection(servers, **kw))


def run_dir_cmd(run_dir, servers=(), **kw):
    return RunDirCommand(run_dir, connection=connection(servers, **kw))


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# --- scheduling --------------------------------------------------------------------------------

def test_choose_server_prefers_short_queues_then_inputs_then_order():
    a, b = "http://a", "http://b"
    assert choose_server([ServerLoad(a, 3, 0), ServerLoad(b, 0, 0)], window=2) == b
    assert choose_server([ServerLoad(a, 0, 0), ServerLoad(b, 0, 0)], window=2) == a
    assert choose_server([ServerLoad(a, 0, 0), ServerLoad(b, 0, 0)], window=2, affinity={b: 1}) == b
    assert choose_server([ServerLoad(a, 0, 2), ServerLoad(b, 5, 0)], window=2) == b    # a is full
    assert choose_server([ServerLoad(a, 0, 2), ServerLoad(b, 0, 2)], window=2) is None
    assert choose_server([ServerLoad(a, 0, 0, alive=False), ServerLoad(b, 9, 1)], window=2) == b


# --- runs ----------------------------------------------------------------------------------------

def test_chained_travel_runs_step_by_step_and_downloads_everything(tmp_path, fake):
    run = travel_run(tmp_path)
    m = new_manifest(run)
    final = runner(m, fake).execute()
    plan = run.plan()
    assert count_frames(final) == plan.total_frames
    assert [p["save"]["inputs"]["filename"] if "save" in p else "final" for _, p in fake.submitted] == \
           ["segue/t1/seg_000", "segue/t1/seg_001", "segue/t1/seg_002", "final"]
    saved = Manifest.load(m.run_dir)
    assert saved.data["status"] == "done" and all(saved.verify(s) for s in saved.steps)
    for step in saved.ordered():
        assert hashlib.sha256((m.run_dir / step.file).read_bytes()).hexdigest() == step.sha256
        assert step.server == fake.url
    assert sorted(u.split("/")[-1][:7] for u in fake.uploads) == ["key_000", "key_001", "key_002", "key_003"]


def test_join_transitions_spread_over_two_servers_and_inputs_follow(tmp_path, fake, fake_b):
    fake.delay = fake_b.delay = 0.3
    run = JoinRun(clips=clips(tmp_path, 5), context=3, gap=5, run_id="j2", output_dir=str(tmp_path / "runs"))
    m = new_manifest(run)
    final = runner(m, fake, fake_b, window=1).execute()
    servers = {s.id: s.server for s in Manifest.load(m.run_dir).ordered()}
    transitions = [servers[f"trans_{j:03d}"] for j in range(4)]
    assert set(transitions) == {fake.url, fake_b.url}
    assert count_frames(final) == run.plan().total_frames
    # The assembly ran on one server: the transitions made elsewhere were uploaded to it.
    host = fake if servers["final"] == fake.url else fake_b
    moved = [t for t, url in zip(range(4), transitions) if url != host.url]
    assert sorted(u for u in host.uploads if u.startswith("output/")) == \
           sorted(f"output/segue/j2/trans_{t:03d}.mkv" for t in moved)


def test_a_busy_server_gets_no_work_while_another_is_free(tmp_path, fake, fake_b):
    fake_b.paused.set()                       # someone else's long queue, not moving
    for i in range(5):
        fake_b.add_foreign(f"theirs-{i}")
    run = travel_run(tmp_path, mode="independent", run_id="t3")
    m = new_manifest(run)
    runner(m, fake, fake_b, window=3).execute()
    assert {s.server for s in Manifest.load(m.run_dir).ordered()} == {fake.url}
    assert fake_b.submitted == []


def test_kill_and_restart_resumes_without_redoing_finished_steps(tmp_path):
    server = FakeComfy(tmp_path / "srv", delay=0.2).start()
    port = server.port
    run = travel_run(tmp_path, n=5, run_id="t4")
    m = new_manifest(run)
    r = runner(m, server, server_timeout=1.0)
    outcome = {}

    def go():
        try:
            r.execute()
        except Exception as e:                      # noqa: BLE001 - the test inspects it
            outcome["error"] = e

    thread = threading.Thread(target=go)
    thread.start()
    wait_until(lambda: m.steps["seg_001"].state == "done")
    server.stop()                                   # like kill -9: queue and history are gone
    thread.join(20)
    error = outcome.get("error")
    assert isinstance(error, ServerUnreachable) and error.exit_code == 3 and error.resumable
    assert "has been unreachable for 1s" in str(error)
    state = Manifest.load(m.run_dir)
    done_before = [s.id for s in state.ordered() if s.state == "done"]
    assert {"seg_000", "seg_001"} <= set(done_before) and state.steps["final"].state == "pending"

    server = FakeComfy(tmp_path / "srv", port=port, delay=0.05).start()   # same disk, same port
    try:
        final = runner(Manifest.load(m.run_dir), server).execute()
        resubmitted = [p["save"]["inputs"]["filename"].rsplit("/", 1)[-1] if "save" in p else "final"
                       for _, p in server.submitted]
        assert not set(resubmitted) & set(done_before)
        assert resubmitted[-1] == "final" and len(resubmitted) == 5 - len(done_before)
        assert count_frames(final) == run.plan().total_frames
        state = Manifest.load(m.run_dir)
        assert all(state.verify(s) for s in state.steps)
        assert all(state.steps[s].attempts == 1 for s in done_before)
    finally:
        server.stop()


def test_a_failed_step_stops_the_run_and_resume_retries_it(tmp_path, fake):
    fake.fail = {"seg_001"}
    run = travel_run(tmp_path, run_id="t5")
    m = new_manifest(run)
    with pytest.raises(StepFailed, match=r"seg_001 failed on 127\.0\.0\.1:\d+: node save \(SeguePreviewStep\): "
                                         r"ValueError: fake failure"):
        runner(m, fake).execute()
    state = Manifest.load(m.run_dir)
    assert state.steps["seg_001"].state == "failed" and state.steps["seg_002"].state == "pending"
    assert state.data["status"] == "failed"
    runner(state, fake).execute()
    assert Manifest.load(m.run_dir).steps["seg_001"].attempts == 2
    names = [p["save"]["inputs"]["filename"] for _, p in fake.submitted if "save" in p]
    assert names.count("segue/t5/seg_000") == 1


def test_retries_resubmit_a_failed_step_in_the_same_run(tmp_path, fake):
    fake.fail = {"seg_000"}
    m = new_manifest(travel_run(tmp_path, n=2, run_id="t6"))
    runner(m, fake, retries=1).execute()
    assert Manifest.load(m.run_dir).steps["seg_000"].attempts == 2


def test_a_lost_local_file_is_fetched_again_not_regenerated(tmp_path, fake):
    m = new_manifest(travel_run(tmp_path, n=3, run_id="t7"))
    runner(m, fake).execute()
    (m.run_dir / "seg_000.mkv").unlink()
    submitted = len(fake.submitted)
    runner(Manifest.load(m.run_dir), fake).execute()
    assert len(fake.submitted) == submitted and Manifest.load(m.run_dir).verify("seg_000")
    # When the server lost it too, the step runs again.
    (m.run_dir / "seg_000.mkv").write_bytes(b"corrupt")
    (fake.root / "output/segue/t7/seg_000.mkv").unlink()
    runner(Manifest.load(m.run_dir), fake).execute()
    assert len(fake.submitted) == submitted + 1


def test_cancel_removes_only_our_prompts(tmp_path, fake, capsys):
    fake.paused.set()
    fake.add_foreign("theirs-before")
    run = travel_run(tmp_path, mode="independent", run_id="t8")
    m = new_manifest(run)
    r = runner(m, fake, window=3)
    r.preflight()
    r.schedule()
    fake.add_foreign("theirs-after")
    fake.call(lambda: setattr(fake, "running", "theirs-running"))     # someone else's prompt is running
    assert len(fake.queue) == 5
    assert cli.cmd_cancel(run_dir_cmd(m.run_dir)) == 0
    assert [q[0] for q in fake.queue] == ["theirs-before", "theirs-after"]     # theirs survive
    assert fake.interrupts == [] and not fake.interrupted                      # and theirs keeps running
    assert capsys.readouterr().out.count("removed from the queue") == 3
    state = Manifest.load(m.run_dir)
    assert state.data["status"] == "cancelled" and all(s.state == "pending" for s in state.ordered())


def test_detached_run_is_one_prompt_and_resume_collects_it(tmp_path, fake, capsys):
    run = travel_run(tmp_path, run_id="t9")
    m = new_manifest(run)
    prompt_id = runner(m, fake).submit_detached()
    assert len(fake.submitted) == 1 and fake.submitted[0][0] == prompt_id
    assert {s.state for s in Manifest.load(m.run_dir).ordered()} == {"submitted"}
    wait_until(lambda: not fake.queue and not fake.running and prompt_id in fake.history)
    assert cli.cmd_status(run_dir_cmd(m.run_dir)) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "segue resume collects it" in out
    final = runner(Manifest.load(m.run_dir), fake).execute()
    assert len(fake.submitted) == 1
    assert count_frames(final) == run.plan().total_frames


# --- commands and exit codes -----------------------------------------------------------------------

def plan_file(tmp_path, run):
    path = tmp_path / "plan.json"
    save_plan(run, path)
    return path


def test_segue_run_then_run_again_resumes_and_writes_out(tmp_path, fake, capsys):
    run = travel_run(tmp_path, run_id="c1")
    path = plan_file(tmp_path, run)
    out = tmp_path / "result.mp4"
    assert cli.cmd_run(run_cmd(path, [fake.url], out=out)) == 0
    assert count_frames(out) == run.plan().total_frames
    n = len(fake.submitted)
    assert cli.cmd_run(run_cmd(path, [fake.url], out=out)) == 0   # same run id: nothing to do
    assert len(fake.submitted) == n
    assert "resuming run c1" in capsys.readouterr().err
    status = "\n".join(status_lines(Manifest.load(tmp_path / "runs" / "c1"), live=False))
    assert "final" in status and "keyframes at:" in status and "sha256" in status


@pytest.mark.parametrize("change, message", [
    (lambda run: setattr(run, "images", []), "at least 1 keyframe image"),
    (lambda run: setattr(run, "images", [run.images[0], "/nope/missing.png"]), "missing.png' does not exist"),
    (lambda run: setattr(run, "overlap", 12), r"overlap\[0\]=12 must be smaller"),
    (lambda run: setattr(run, "generator", GeneratorConfig(kind="wan21-vace", unet="nope.safetensors",
                                                           vae="wan_vae.safetensors", clip="umt5.safetensors")),
     "unknown model file 'nope.safetensors'"),
])
def test_bad_plans_fail_before_anything_is_submitted(tmp_path, fake, capsys, change, message):
    run = travel_run(tmp_path, run_id="bad")
    change(run)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(run.to_dict()))
    assert cli.cmd_run(run_cmd(path, [fake.url])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segue: error: ")
    assert __import__("re").search(message, err[0]), err
    assert fake.submitted == [] and fake.uploads == []
    assert not (tmp_path / "runs" / "bad").exists()


def test_unreachable_server_exits_3_before_submitting(tmp_path, capsys):
    path = plan_file(tmp_path, travel_run(tmp_path, run_id="c3"))
    assert cli.cmd_run(run_cmd(path, ["http://127.0.0.1:9"])) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["segue: error: ComfyUI server http://127.0.0.1:9 is unreachable (Connection refused)",
                   "segue: hint: start the server or check --server"]       # no run yet: no resume offered
    assert not (tmp_path / "runs" / "c3").exists()


def test_a_different_plan_under_an_existing_run_id_is_refused(tmp_path, fake, capsys):
    run = travel_run(tmp_path, run_id="c4")
    assert cli.cmd_run(run_cmd(plan_file(tmp_path, run), [fake.url])) == 0
    run.overlap = 2
    assert cli.cmd_run(run_cmd(plan_file(tmp_path, run), [fake.url])) == 2
    assert "different plan" in capsys.readouterr().err


def parse(*argv):
    from segue.orchestration.cli import build_parser
    return build_parser().parse_args(list(argv))


def test_server_arguments_parse_straight_into_the_run_and_its_launch(tmp_path):
    from segue.orchestration.cli.build import join_run, launch, travel_run
    ns = parse("travel", *keyframes(tmp_path, 3), "--frames", "16", "--out", "x.mp4", "--server", "h1:8188",
               "--server", "http://h2:8188", "--generator", "wan22-vace", "--unet", "hi", "--unet-low", "lo",
               "--vae", "v", "--clip", "c", "--split-step", "3", "--prompt", "a", "--prompt", "b",
               "--seed", "4", "--seed-mode", "increment", "--detach", "--window", "3")
    how = launch(ns)
    assert how.connection == ConnectionOptions(servers=["h1:8188", "http://h2:8188"], window=3)
    assert how.detach is True and how.remote and ns.runs_dir == "segue_runs"
    run = travel_run(ns)
    assert run.generator.kind == "wan22-vace" and run.generator.recipe().split_step == 3
    assert (run.generator.unet, run.generator.unet_low, run.generator.vae, run.generator.clip) == ("hi", "lo", "v", "c")
    assert run.prompts == ["a", "b"] and run.segment_seed(1) == 5
    assert run.output_dir == str(Path("segue_runs").resolve())
    run.validate()
    assert [c.url for c in server_clients(how.connection)] == ["http://h1:8188", "http://h2:8188"]
    # the defaults of a bare command line are the run's and the connection's own (written once)
    bare = parse("travel", "a.png", "b.png", "--frames", "16", "--out", "x.mp4")
    assert launch(bare).connection == ConnectionOptions() and not launch(bare).remote
    bare_run = travel_run(bare)
    assert bare_run.crf == 19 and bare_run.overlap == 8 and bare_run.out == str(Path("x.mp4").resolve())
    join = parse("join", "a.mp4", "b.mp4", "c.mp4", "--out", "j.mp4", "--per-join", '[{}, {"gap": 21}]')
    assert join_run(join).per_join == [{}, {"gap": 21}]


def test_detach_from_a_command_line_submits_one_prompt_and_exits(tmp_path, fake, capsys):
    from segue.orchestration.cli import main
    fake.paused.set()
    assert main(["travel", *keyframes(tmp_path, 3), "--frames", "12", "--overlap", "3", "--out",
                 str(tmp_path / "d.mp4"), "--server", fake.url, "--runs-dir", str(tmp_path / "runs"),
                 "--run-id", "det", "--detach", "--no-progress"]) == 0
    assert "submitted run det" in capsys.readouterr().out
    assert len(fake.submitted) == 1 and len(fake.queue) == 1
    state = Manifest.load(tmp_path / "runs" / "det")
    assert state.data["status"] == "detached" and {s.state for s in state.ordered()} == {"submitted"}
    assert not (tmp_path / "d.mp4").exists()
    fake.paused.clear()
    assert main(["resume", str(tmp_path / "runs" / "det"), "--no-progress"]) == 0
    assert count_frames(tmp_path / "d.mp4") == 27 and len(fake.submitted) == 1


def test_ctrl_c_cancels_our_prompts_and_exits_130(tmp_path, fake, capsys):
    import _thread
    fake.paused.set()                                  # nothing finishes: the run is waiting when interrupted
    fake.add_foreign("theirs")
    run = travel_run(tmp_path, mode="independent", run_id="c5")
    stop = threading.Event()

    def interrupt_when_queued():                       # not a timer: setup may take long on a loaded machine
        while not stop.is_set():
            if len(fake.submitted) == 2:
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=interrupt_when_queued, daemon=True)
    watcher.start()
    try:
        assert cli.cmd_run(run_cmd(plan_file(tmp_path, run), [fake.url])) == 130
    finally:
        stop.set()
        watcher.join(5)
    err = capsys.readouterr().err
    assert "interrupted" in err and f"segue resume {tmp_path / 'runs' / 'c5'}" in err
    assert len(fake.submitted) == 2 and [q[0] for q in fake.queue] == ["theirs"]   # ours removed, theirs kept
    state = Manifest.load(tmp_path / "runs" / "c5")
    assert state.data["status"] == "interrupted"
    assert all(s.state == "pending" for s in state.ordered())
    fake.paused.clear()
    assert cli.cmd_resume(run_dir_cmd(tmp_path / "runs" / "c5")) == 0


def test_travel_and_join_command_lines_run_through_a_server(tmp_path, fake):
    from segue.orchestration.cli import main
    out = tmp_path / "t.mp4"
    assert main(["travel", *keyframes(tmp_path, 3), "--frames", "12", "--overlap", "3", "--out", str(out),
                 "--server", fake.url, "--runs-dir", str(tmp_path / "runs"), "--run-id", "cli-t",
                 "--no-progress", "--method", "blend", "--prompt", "a cat"]) == 0
    assert count_frames(out) == TravelRun(images=["a", "b", "c"], segment_frames=12, overlap=3).plan().total_frames
    (_, first), *_ = fake.submitted
    assert first["save"]["class_type"] == "SeguePreviewStep" and first["save"]["inputs"]["method"] == "blend"
    refs = clips(tmp_path, 3)
    out = tmp_path / "j.mp4"
    assert main(["join", *[c.path for c in refs], "--context", "3", "--gap", "5", "--replace",
                 "--out", str(out), "--server", fake.url, "--runs-dir", str(tmp_path / "runs"),
                 "--no-progress"]) == 0
    plan = JoinRun(clips=refs, context=3, gap=5, replace=True).plan()
    assert count_frames(out) == plan.total_frames
