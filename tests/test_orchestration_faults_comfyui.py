"""Faults against a real ComfyUI with the Segue pack loaded (skipped without one).

The real server's own behaviour where it matters: its websocket messages drive progress, its
``/interrupt`` and queue deletion under Ctrl-C and ``segue cancel`` with other users' prompts
around (``SegueTestHold`` from tests/comfy_fault_nodes keeps one running), its execution errors
(``SegueTestFault`` raises once, or runs out of memory) for retries and resume, its ``/prompt``
validation, and network faults put between client and server by ``FlakyProxy``.
"""

import io
import json
import os
import threading
import time
import uuid

import numpy as np
import pytest

from segue import orchestration
from segue.orchestration import cli
from segue.orchestration.server.client import ComfyClient
from segue.orchestration.runs.models import run_inputs
from segue.orchestration.server.retry import RetryPolicy
from segue.orchestration.errors import ServerNotAnswering
from segue.orchestration.server.manifest import Manifest
from segue.orchestration.cli import RunDirCommand
from segue.orchestration.server import ConnectionOptions
from segue.orchestration.runs.models import GeneratorConfig, TravelRun
from segue.orchestration.progress import Progress
from segue.orchestration.server.runner import Runner
from segue.orchestration.runs.steps import travel_steps

from fake_comfy import Fault, FlakyProxy
from background import run_in_background
from comfyui_harness import comfyui_version

pytestmark = [pytest.mark.comfyui, pytest.mark.timeout(600)]


def keyframes(tmp_path, n):
    import cv2
    paths = []
    for i in range(n):
        img = np.full((64, 64, 3), 40 + 50 * i, np.uint8)
        path = tmp_path / f"key{i}.png"
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    return paths


def fault_template(tmp_path, control):
    """A preview generator followed by SegueTestFault, steered by marker files in ``control``."""
    tpl = {"1": {"class_type": "SegueGuideSlot", "inputs": {}},
           "2": {"class_type": "SeguePreviewGenerator",
                 "inputs": {"control_video": ["1", 0], "control_masks": ["1", 1], "method": "blend"}},
           "3": {"class_type": "SegueTestFault", "inputs": {"images": ["2", 0], "control": str(control),
                                                            "index": "{{index}}"}},
           "4": {"class_type": "SegueFramesSlot", "inputs": {"images": ["3", 0]}}}
    path = tmp_path / "fault_tpl.json"
    path.write_text(json.dumps(tpl))
    return GeneratorConfig.from_name(str(path))


def travel(tmp_path, run_id, n=3, generator=None, **kw):
    return TravelRun(images=keyframes(tmp_path, n), segment_frames=14, overlap=4, run_id=run_id,
                     output_dir=str(tmp_path / "runs"), generator=generator or GeneratorConfig.from_dict({"kind": "preview", "preview_method": "blend"}),
                     **kw)


def run_cli(tmp_path, run, servers, capsys=None, detach=False, **kw):
    """A run through the Python entry point (``orchestration.run_plan``) -> (exit code, stderr lines)."""
    kw.setdefault("server_timeout", 20.0)
    code = orchestration.run_plan(run, servers, detach=detach, progress=False, **kw)
    return code, (capsys.readouterr().err.strip().splitlines() if capsys else [])


def resume(run_dir, servers=()):
    return cli.cmd_resume(RunDirCommand(run_dir, connection=ConnectionOptions(
        servers=list(servers), no_progress=True, server_timeout=20.0)))


def run_prompts(server_url, run_id):
    """The steps of ``run_id`` the server ran (its history), in order, with repeats."""
    history = ComfyClient(server_url).get_json("/history")
    names = []
    for entry in sorted(history.values(), key=lambda e: e["prompt"][0]):
        for node in entry["prompt"][2].values():
            filename = str(node["inputs"].get("filename", ""))
            if node["class_type"].startswith("Segue") and filename.startswith(f"segue/{run_id}/"):
                names.append(filename.rsplit("/", 1)[-1])
    return names


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.fixture
def control(tmp_path):
    folder = tmp_path / "control"
    folder.mkdir()
    yield folder
    for marker in folder.iterdir():              # never leave the shared server holding
        marker.unlink()


def hold_prompt(server, control, name):
    """Someone else's prompt that runs until ``hold_<name>`` is removed."""
    (control / f"hold_{name}").touch()
    prompt_id = str(uuid.uuid4())      # ComfyUI 0.27 refuses an id that is not a canonical UUID (400)
    server.post("/prompt", {"prompt": {"1": {"class_type": "SegueTestHold", "inputs": {"control": str(control),
                                                                                          "name": name}}},
                            "prompt_id": prompt_id, "client_id": "someone-else"})
    return prompt_id


def queue_ids(server):
    q = server.get("/queue")
    return [item[1] for item in q["queue_running"]], [item[1] for item in q["queue_pending"]]


# --- events ---------------------------------------------------------------------------------------

def test_progress_comes_from_the_real_servers_websocket(tmp_path, comfy_server):
    run = travel(tmp_path, "rprog", n=2)
    plan = run.validate()
    manifest = Manifest.create(tmp_path / "runs" / "rprog", run, plan.to_dict(), travel_steps(plan),
                               run_inputs(run), "segue-progress-test")
    stream = io.StringIO()
    runner = Runner(manifest, [ComfyClient(comfy_server.url)], Progress("travel rprog", list(manifest.steps),
                    stream=stream), poll_s=5.0, silence_s=60.0)
    runner.execute()
    label = comfy_server.url.split("://")[1]
    lines = stream.getvalue().splitlines()
    assert f"[travel rprog 0/2] seg_000 running on {label}" in lines
    sampler = [line for line in lines if line.startswith(f"[travel rprog 0/2] seg_000 on {label}: ")]
    assert sampler and sampler[-1].endswith(f"/{run.plan().segments[0].generate_frames}"), lines   # per-frame progress
    assert lines[-1] == f"[travel rprog 2/2] final done on {label}"


# --- cancel and Ctrl-C ------------------------------------------------------------------------------

def test_ctrl_c_and_cancel_remove_only_our_prompts_on_a_real_server(tmp_path, comfy_server, control, capsys):
    import _thread
    theirs_running = hold_prompt(comfy_server, control, "a")
    wait_until(lambda: queue_ids(comfy_server)[0] == [theirs_running])
    theirs_pending = hold_prompt(comfy_server, control, "b")
    run = travel(tmp_path, "rctrlc", n=4, mode="independent")
    stop = threading.Event()

    def interrupt_when_ours_are_queued():
        while not stop.is_set():
            if len(queue_ids(comfy_server)[1]) >= 3:          # theirs + our window of 2
                _thread.interrupt_main()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=interrupt_when_ours_are_queued, daemon=True)
    watcher.start()
    try:
        code, err = run_cli(tmp_path, run, [comfy_server.url], capsys)
    finally:
        stop.set()
        watcher.join(10)
    assert code == 130 and "interrupted" in err[0]
    assert queue_ids(comfy_server) == ([theirs_running], [theirs_pending])     # theirs untouched, ours gone
    state = Manifest.load(tmp_path / "runs" / "rctrlc")
    assert state.data["status"] == "interrupted" and all(s.state == "pending" for s in state.ordered())

    # segue cancel of a detached run, with the same neighbours
    code, _ = run_cli(tmp_path, travel(tmp_path, "rcancel", n=3), [comfy_server.url], detach=True)
    assert code == 0 and len(queue_ids(comfy_server)[1]) == 2
    assert cli.cmd_cancel(RunDirCommand(tmp_path / "runs" / "rcancel")) == 0
    assert "removed from the queue" in capsys.readouterr().out
    assert queue_ids(comfy_server) == ([theirs_running], [theirs_pending])
    (control / "hold_a").unlink()
    (control / "hold_b").unlink()
    wait_until(lambda: queue_ids(comfy_server) == ([], []))
    history = comfy_server.get("/history")
    assert history[theirs_running]["status"]["status_str"] == "success"       # never interrupted
    assert resume(tmp_path / "runs" / "rctrlc") == 0


def test_ctrl_c_interrupts_our_running_prompt_on_a_real_server(tmp_path, comfy_server, control, capsys):
    import _thread
    (control / "hold").touch()                  # our step holds inside SegueTestFault
    run = travel(tmp_path, "rint", n=2, generator=fault_template(tmp_path, control))
    watcher = threading.Thread(target=lambda: (wait_until(lambda: (control / "running_0").exists()),
                                               _thread.interrupt_main()), daemon=True)
    watcher.start()
    code, err = run_cli(tmp_path, run, [comfy_server.url], capsys)
    watcher.join(10)
    assert code == 130
    wait_until(lambda: queue_ids(comfy_server) == ([], []))
    entry = [e for e in comfy_server.get("/history").values() if "segue/rint/" in json.dumps(e["prompt"][2])][-1]
    assert [m for m, _ in entry["status"]["messages"]][-1] == "execution_interrupted"
    (control / "hold").unlink()
    assert resume(tmp_path / "runs" / "rint") == 0


# --- execution errors, retries, resume --------------------------------------------------------------

def test_a_step_failing_on_the_real_server_is_retried_and_its_error_shows_no_server_path(
        tmp_path, comfy_server, control, capsys):
    (control / "fail_1").touch()
    run = travel(tmp_path, "rfail", generator=fault_template(tmp_path, control))
    code, err = run_cli(tmp_path, run, [comfy_server.url], capsys)
    assert code == 1
    assert err[0].endswith("node tpl.3 (SegueTestFault): ValueError: cannot open missing.png"), err
    assert not any(str(control) in line or "Traceback" in line or ".py" in line for line in err), err
    assert "segue resume" not in err[-1]
    assert resume(tmp_path / "runs" / "rfail") == 0                 # the server-side cause is gone now
    assert run_prompts(comfy_server.url, "rfail") == ["seg_000", "seg_001", "seg_001", "final"]

    (control / "fail_0").touch()
    run = travel(tmp_path, "rretry", generator=fault_template(tmp_path, control))
    assert run_cli(tmp_path, run, [comfy_server.url], retries=1)[0] == 0
    assert Manifest.load(tmp_path / "runs" / "rretry").steps["seg_000"].attempts == 2
    assert run_prompts(comfy_server.url, "rretry") == ["seg_000", "seg_000", "seg_001", "final"]


def test_out_of_memory_on_the_real_server_is_resumable(tmp_path, comfy_server, control, capsys):
    (control / "oom_0").touch()
    run = travel(tmp_path, "room", n=2, generator=fault_template(tmp_path, control))
    code, err = run_cli(tmp_path, run, [comfy_server.url], capsys)
    run_dir = tmp_path / "runs" / "room"
    assert code == 1
    assert err[0].endswith("node tpl.3 (SegueTestFault): OutOfMemoryError: Allocation on device"), err
    assert "free memory on" in err[1] and f"`segue resume {run_dir}` continues" in err[1]
    assert resume(run_dir) == 0


def test_a_prompt_the_real_server_rejects_exits_2_naming_node_and_input(tmp_path, comfy_server, capsys,
                                                                         monkeypatch):
    models = comfy_server.base / "models"
    names = {"diffusion_models": "rej_unet.safetensors", "vae": "rej_vae.safetensors",
             "text_encoders": "rej_t5.safetensors"}
    for folder, name in names.items():
        (models / folder).mkdir(parents=True, exist_ok=True)
        (models / folder / name).write_bytes(b"")
    run = travel(tmp_path, "rrej", mode="independent", generator=GeneratorConfig(
        kind="wan21-vace", unet=names["diffusion_models"], vae=names["vae"], clip=names["text_encoders"]))
    preflight = Runner.preflight

    def preflight_then_lose_the_model(self):
        preflight(self)                                    # the server listed the file ...
        (models / "diffusion_models" / names["diffusion_models"]).unlink(missing_ok=True)   # ... then loses it

    monkeypatch.setattr(Runner, "preflight", preflight_then_lose_the_model)
    code, err = run_cli(tmp_path, run, [comfy_server.url], capsys)
    assert code == 2
    assert "rejected the prompt: Prompt outputs failed validation" in err[0]
    assert any("(UNETLoader" in line and "input unet_name: Value not in list" in line for line in err), err
    assert err[-1].startswith("segue: hint: fix the inputs named above") and "resume" not in err[-1]
    assert queue_ids(comfy_server) == ([], []) and run_prompts(comfy_server.url, "rrej") == []   # nothing ran


# --- the network between client and server ----------------------------------------------------------

@pytest.fixture
def proxy(comfy_server):
    flaky = FlakyProxy(comfy_server.url).start()
    yield flaky
    flaky.silent.clear()
    flaky.stop()


def test_http_faults_between_client_and_a_real_server_are_absorbed(tmp_path, comfy_server, proxy):
    # a prompt's state comes from /api/jobs/{id} where the server has it (0.27), else from /queue
    status = "/api/jobs/" if ComfyClient(comfy_server.url).has_jobs_api() else "/queue"
    proxy.faults += [Fault("GET", status, status=503, retry_after="1", times=2),
                     Fault("POST", "/prompt", reset="after"),
                     Fault("POST", "/prompt", status=502),
                     Fault("HEAD", "/view", reset="before"),
                     Fault("GET", "/view", status=504),
                     Fault("POST", "/upload/image", reset="before")]
    t0 = time.monotonic()
    code, _ = run_cli(tmp_path, travel(tmp_path, "rnet"), [proxy.url])
    assert code == 0
    assert all(f.times == 0 for f in proxy.faults)
    assert run_prompts(comfy_server.url, "rnet") == ["seg_000", "seg_001", "final"]   # none twice
    assert time.monotonic() - t0 >= 2.0                      # the two Retry-After: 1 were waited for


def test_websocket_dropped_mid_run_on_a_real_server_falls_back_to_polling(tmp_path, comfy_server, proxy):
    run = travel(tmp_path, "rws", n=4)
    plan = run.validate()
    manifest = Manifest.create(tmp_path / "runs" / "rws", run, plan.to_dict(), travel_steps(plan),
                               run_inputs(run), "segue-ws-test")
    runner = Runner(manifest, [ComfyClient(proxy.url)], poll_s=0.1)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("final", runner.execute()))
    thread.start()
    wait_until(lambda: manifest.steps["seg_000"].state == "done")
    proxy.no_websocket = True
    proxy.drop_websockets()
    thread.join(120)
    assert outcome["final"].is_file() and Manifest.load(manifest.run_dir).data["status"] == "done"
    assert run_prompts(comfy_server.url, "rws") == ["seg_000", "seg_001", "seg_002", "final"]


def test_a_real_server_that_stops_answering_ends_the_run_clearly(tmp_path, comfy_server, proxy):
    run = travel(tmp_path, "rsilent", n=4)
    plan = run.validate()
    manifest = Manifest.create(tmp_path / "runs" / "rsilent", run, plan.to_dict(), travel_steps(plan),
                               run_inputs(run), "segue-silent-test")
    client = ComfyClient(proxy.url, timeout=1.0, retry=RetryPolicy(attempts=2, base_s=0.1))
    runner = Runner(manifest, [client], poll_s=0.1, silence_s=0.5, server_timeout=2.0)
    thread, outcome = run_in_background(runner.execute)
    wait_until(lambda: manifest.steps["seg_000"].state == "done")
    proxy.silent.set()
    t0 = time.monotonic()
    thread.join(60)
    assert time.monotonic() - t0 < 20                 # per-request timeouts, not a download's 300 s
    error = outcome["error"]
    assert isinstance(error, ServerNotAnswering) and error.exit_code == 3 and error.resumable
    assert "has not answered for 2s" in str(error)
    proxy.silent.clear()
    assert resume(manifest.run_dir, [comfy_server.url]) == 0
    assert os.path.isfile(manifest.run_dir / "final.mp4")


def test_status_and_cancel_answer_alike_through_the_jobs_api_and_the_old_routes(comfy_server, control):
    """On the real server: /api/jobs is used where it exists (0.27; detected, not assumed), and its
    answers equal those the /queue + /history routes give; cancel by id dequeues ours only."""
    jobs = ComfyClient(comfy_server.url)
    routes = ComfyClient(comfy_server.url)
    routes._jobs_api = False                      # the fallback every server has
    assert jobs.has_jobs_api() is (comfyui_version() >= (0, 27, 0))
    running = hold_prompt(comfy_server, control, "j1")
    wait_until(lambda: queue_ids(comfy_server)[0] == [running])
    pending = hold_prompt(comfy_server, control, "j2")
    mine = jobs.submit({"1": {"class_type": "SegueTestHold", "inputs": {"control": str(control), "name": "j3"}}})
    for pid, expected in ((running, "running"), (pending, "queued"), (mine, "queued"),
                          (str(uuid.uuid4()), "unknown")):
        assert jobs.prompt_status(pid) == routes.prompt_status(pid) == (expected, None)
    assert jobs.cancel(mine) == "removed from the queue"
    assert queue_ids(comfy_server) == ([running], [pending])
    (control / "hold_j1").unlink()
    wait_until(lambda: queue_ids(comfy_server)[0] == [pending])
    (control / "hold_j2").unlink()
    wait_until(lambda: queue_ids(comfy_server) == ([], []))
    for pid in (running, pending):
        via_jobs, via_routes = jobs.prompt_status(pid), routes.prompt_status(pid)
        assert via_jobs[0] == via_routes[0] == "success"
        assert via_jobs[1]["status"]["status_str"] == "success"
        assert via_jobs[1]["outputs"] == via_routes[1]["outputs"]
