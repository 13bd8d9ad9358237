"""The HTTP + websocket client and the progress display, against small in-process servers.

Retries are checked with a recording ``sleep`` (no real waiting): which failures are retried, how
often, how long it waits (``Retry-After`` honoured), and that ``POST /prompt`` never queues a
prompt twice, whatever the failure.
"""

import email.utils
import io
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segue.orchestration.server.client import ComfyClient, EventsClosed
from segue.orchestration.server.records import (execution_error_text, format_node_errors, history_error,
                                                history_outcome, is_out_of_memory, strip_server_paths)
from segue.orchestration.server.retry import RetryPolicy, retry_after_seconds
from segue.orchestration.errors import PromptRejected, ServerError, ServerUnreachable, UploadRejected
from segue.orchestration.progress import Progress
from segue.video_utils.core.atomic import is_temp_name

from fake_comfy import SERVER_ROOT, Fault, FakeComfy


@pytest.fixture
def fake(tmp_path):
    server = FakeComfy(tmp_path / "srv").start()
    yield server
    server.stop()


class Sleeps(list):
    """A ``sleep`` that records instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


def client_for(url, **kw):
    sleeps = Sleeps()
    return ComfyClient(url, timeout=kw.pop("timeout", 5), sleep=sleeps, **kw), sleeps


# --- retry policy ---------------------------------------------------------------------------------

def test_retry_after_reads_seconds_and_http_dates():
    now = time.time()
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_backoff_is_jittered_exponential_and_capped():
    policy = RetryPolicy(base_s=0.5, max_s=4.0, max_retry_after_s=10)
    assert [policy.delay(n, rng=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(3, rng=lambda: 0.25) == 1.0                      # jitter scales the wait
    assert policy.delay(0, "7") == 7.0 and policy.delay(0, "3600") == 10   # Retry-After, bounded


# --- transient failures ---------------------------------------------------------------------------

def test_503_with_retry_after_is_retried_and_honoured(fake):
    fake.faults.append(Fault("GET", "/queue", status=503, retry_after="2", times=2))
    client, sleeps = client_for(fake.url)
    assert client.queue() == ([], [])
    assert sleeps == [2.0, 2.0] and client.retries_done == 2


def test_persistent_5xx_gives_up_after_the_bounded_tries(fake):
    fake.faults.append(Fault("GET", "/queue", status=502, times=99))
    client, sleeps = client_for(fake.url, retry=RetryPolicy(attempts=3))
    with pytest.raises(ServerError, match="answered 502"):
        client.queue()
    assert len(sleeps) == 2 and [r for r in fake.requests if r == ("GET", "/queue")] == [("GET", "/queue")] * 3


def test_a_500_is_not_retried(fake):
    fake.faults.append(Fault("GET", "/queue", status=500, times=5))
    client, sleeps = client_for(fake.url)
    with pytest.raises(ServerError, match="500"):
        client.queue()
    assert sleeps == []


def test_connection_reset_on_a_get_is_retried(fake):
    fake.faults.append(Fault("GET", "/system_stats", reset="before", times=2))
    client, sleeps = client_for(fake.url)
    assert client.system_stats()["system"]["comfyui_version"] == "fake"
    assert len(sleeps) == 2


def test_connection_refused_is_retried_a_bounded_number_of_times():
    client, sleeps = client_for("127.0.0.1:9", retry=RetryPolicy(attempts=4))
    with pytest.raises(ServerUnreachable, match=r"http://127\.0\.0\.1:9 is unreachable \(Connection refused\)"):
        client.system_stats()
    assert len(sleeps) == 3


@pytest.mark.parametrize("fault", [Fault("POST", "/prompt", reset="after"), Fault("POST", "/prompt", reset="before"),
                                   Fault("POST", "/prompt", status=503, retry_after="1")])
def test_a_prompt_is_queued_once_whatever_breaks(fake, fault):
    """After a reset (the server may have queued it) or a 503 the client asks before resending."""
    fake.paused.set()
    fake.faults.append(fault)
    client, sleeps = client_for(fake.url)
    assert client.submit({"1": {"class_type": "SegueFileList", "inputs": {}}}, "p-1") == "p-1"
    assert [pid for pid, _ in fake.submitted] == ["p-1"]
    assert client.queue() == ([], ["p-1"])
    posts = [r for r in fake.requests if r == ("POST", "/prompt")]
    assert len(posts) == (1 if fault.reset == "after" else 2)      # delivered: asked, not resent
    assert sleeps[0] == (1.0 if fault.retry_after else sleeps[0])


def test_a_prompt_post_that_keeps_failing_is_an_error_not_a_loop(fake):
    fake.faults.append(Fault("POST", "/prompt", reset="before", times=99))
    client, sleeps = client_for(fake.url, retry=RetryPolicy(attempts=3))
    with pytest.raises(ServerError, match="did not take the prompt"):
        client.submit({"1": {"class_type": "SegueFileList", "inputs": {}}}, "p-2")
    assert fake.submitted == [] and len(sleeps) == 2


def test_a_silent_server_is_not_answering_within_the_timeout(fake):
    fake.silent.set()
    client, _ = client_for(fake.url, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ServerUnreachable, match=r"did not answer GET /queue within 0s") as e:
        client.queue()
    assert e.value.code == "server_not_answering" and time.monotonic() - t0 < 3
    fake.silent.clear()


# --- downloads --------------------------------------------------------------------------------------

def test_a_download_broken_off_mid_file_is_retried_from_the_start(fake, tmp_path):
    data = os.urandom(300_000)
    (fake.root / "output/segue/r").mkdir(parents=True)
    (fake.root / "output/segue/r/seg.mkv").write_bytes(data)
    fake.truncate.add("seg.mkv")
    client, sleeps = client_for(fake.url)
    dest = tmp_path / "run" / "seg.mkv"
    client.download("seg.mkv", "segue/r", dest)
    assert dest.read_bytes() == data and len(sleeps) == 1
    assert not [p for p in dest.parent.iterdir() if is_temp_name(p.name)]


def test_a_missing_file_or_a_failing_write_leaves_no_part_file(fake, tmp_path, monkeypatch):
    client, _ = client_for(fake.url)
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="has no output/segue/r/nope.mkv"):
        client.download("nope.mkv", "segue/r", run / "nope.mkv")
    (fake.root / "output/segue/r").mkdir(parents=True)
    (fake.root / "output/segue/r/seg.mkv").write_bytes(os.urandom(3 << 20))
    real_open = open

    class Full(io.FileIO):
        def write(self, b):
            if self.tell() > (1 << 20):
                raise OSError(28, "No space left on device")
            return super().write(b)

    monkeypatch.setattr("builtins.open", lambda p, mode="r", *a, **k: Full(p, "wb") if mode == "wb" else real_open(p, mode, *a, **k))
    with pytest.raises(OSError, match="No space"):
        client.download("seg.mkv", "segue/r", run / "seg.mkv")
    monkeypatch.undo()
    assert sorted(p.name for p in run.iterdir()) == []             # neither the file nor a .part


# --- prompts and errors ---------------------------------------------------------------------------

class Scripted(BaseHTTPRequestHandler):
    """Answers from the class attribute ``answers``: path -> (status, body)."""

    answers: dict = {}

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = self.answers.get(self.path.split("?")[0], (404, {}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def scripted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_node_errors_are_a_rejection_naming_node_and_input(scripted):
    server, url = scripted
    node_errors = {"7": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                     "details": "mode: 'sideways' not in ['chained', 'independent']",
                                     "extra_info": {"input_name": "mode"}}],
                         "dependent_outputs": ["9"], "class_type": "SegueTravelGuide"}}
    Scripted.answers = {"/prompt": (200, {"prompt_id": "p", "number": 1, "node_errors": node_errors})}
    prompt = {"7": {"class_type": "SegueTravelGuide", "inputs": {}, "_meta": {"title": "guide segment 0"}}}
    with pytest.raises(PromptRejected) as e:
        ComfyClient(url).submit(prompt, "p")
    assert e.value.node_errors == ["node 7 (SegueTravelGuide, 'guide segment 0') input mode: Value not in list: "
                                   "mode: 'sideways' not in ['chained', 'independent']"]
    assert e.value.exit_code == 2 and e.value.code == "prompt_rejected" and "fix the inputs" in e.value.hint
    Scripted.answers = {"/prompt": (400, {"error": {"type": "invalid_prompt", "message": "Cannot execute",
                                                    "details": "node X does not exist"}, "node_errors": {}})}
    with pytest.raises(PromptRejected, match="Cannot execute\n  node X does not exist"):
        ComfyClient(url).submit(prompt, "p")


def test_upload_over_the_limit_says_how_to_raise_it(scripted, tmp_path):
    _, url = scripted
    Scripted.answers = {"/upload/image": (413, {})}
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(2048))
    with pytest.raises(UploadRejected, match=r"default is 100 MB") as e:
        ComfyClient(url).upload(path, "clip.mp4", "segue/r")
    assert "--max-upload-size" in e.value.hint and "input/segue/r/" in e.value.hint


def test_interrupt_and_cancel_touch_only_our_prompt(fake):
    fake.paused.set()
    client = ComfyClient(fake.url)
    fake.add_foreign("theirs-0")
    mine = client.submit({"1": {"class_type": "SegueFileList", "inputs": {}}}, "mine")
    fake.add_foreign("theirs-1")
    assert client.interrupt(mine) is False and fake.interrupts == []     # pending, not running
    assert client.cancel(mine) == "removed from the queue"
    assert client.queue() == ([], ["theirs-0", "theirs-1"])               # theirs are still queued
    fake.call(lambda: setattr(fake, "running", "theirs-0"))
    assert client.interrupt(mine) is False and client.cancel(mine) == "not queued"
    assert fake.interrupts == [] and not fake.interrupted                 # theirs keeps running


@pytest.mark.parametrize("jobs_api", [False, True], ids=["routes-0.3.64", "jobs-api-0.27"])
def test_status_and_cancel_through_the_jobs_api_where_the_server_has_it(tmp_path, jobs_api):
    """ComfyUI 0.27's /api/jobs/{id} (one answer per prompt) and /api/jobs/{id}/cancel where the
    server has them, detected once; /queue + /history and /queue delete + /interrupt otherwise.
    Either way only our prompt is touched, and the answers are the same."""
    fake = FakeComfy(tmp_path / "srv", jobs_api=jobs_api).start()
    try:
        fake.paused.set()
        client = ComfyClient(fake.url)
        theirs = [str(uuid.uuid4()) for _ in range(2)]
        fake.add_foreign(theirs[0])
        prompt = {"1": {"class_type": "SegueFileList", "inputs": {}}}
        mine = client.submit(prompt)
        fake.add_foreign(theirs[1])
        assert client.has_jobs_api() is jobs_api
        assert client.prompt_status(mine) == ("queued", None)
        assert client.interrupt(mine) is False and fake.interrupts == []          # pending, not running
        assert client.cancel(mine) == "removed from the queue"
        assert client.queue() == ([], theirs) and client.prompt_status(mine) == ("unknown", None)
        fake.call(lambda: setattr(fake, "running", theirs[0]))
        assert client.interrupt(mine) is False and client.cancel(mine) == "not queued"
        assert fake.interrupts == [] and not fake.interrupted                     # theirs keeps running
        fake.call(lambda: setattr(fake, "running", None))

        done = client.submit(prompt)
        fake.paused.clear()
        deadline = time.monotonic() + 10
        while client.prompt_status(done)[0] != "success" and time.monotonic() < deadline:
            time.sleep(0.02)
        status, entry = client.prompt_status(done)
        assert status == "success" and entry["status"]["status_str"] == "success" and "outputs" in entry

        fake.paused.set()
        fake.delay = 5.0
        running = client.submit({"1": {"class_type": "SeguePreviewGenerator", "inputs": {}}})
        fake.paused.clear()
        while client.prompt_status(running)[0] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.cancel(running) == "interrupted"
        while client.prompt_status(running)[0] == "running" and time.monotonic() < deadline + 5:
            time.sleep(0.02)
        assert client.prompt_status(running)[0] == "interrupted"

        asked = [r for r in fake.requests if r[1] == "/api/jobs"]
        assert len(asked) == 1                                   # detected once per server
        cancels = [r for r in fake.jobs_requests if r[0] == "cancel"]
        if jobs_api:
            assert [r for r in fake.requests if r[1] == "/queue"] == [("GET", "/queue")]   # the test's own look
            assert len(cancels) == 2 and not fake.interrupts      # the running one too, by id, atomically
            assert not [r for r in fake.requests if r[1].startswith("/history/")]
        else:
            assert not fake.jobs_requests and fake.interrupts == [running]
    finally:
        fake.stop()


def test_a_0_27_server_refuses_prompt_ids_that_are_not_uuids(tmp_path):
    """Our ids are canonical UUIDs, which 0.27 requires (a client id like "seg-1" is a 400 there)."""
    fake = FakeComfy(tmp_path / "srv", jobs_api=True).start()
    try:
        client = ComfyClient(fake.url)
        with pytest.raises(PromptRejected, match="prompt_id must be a valid UUID"):
            client.submit({"1": {"class_type": "SegueFileList", "inputs": {}}}, "seg-1")
        pid = client.submit({"1": {"class_type": "SegueFileList", "inputs": {}}})
        assert str(uuid.UUID(pid)) == pid
    finally:
        fake.stop()


def test_execution_errors_lose_tracebacks_and_server_paths():
    record = {"node_id": "5", "node_type": "SegueSaveSegment", "exception_type": "segue.errors.PlanError",
              "exception_message": f"cannot read {SERVER_ROOT}/input/segue/r/key_000.png: planned 17 frames\n"
                                   f"Traceback (most recent call last):\n  File \"{SERVER_ROOT}/execution.py\", line 3",
              "traceback": [f'File "{SERVER_ROOT}/x.py"'], "current_inputs": {"secret": ["k"]}}
    text = execution_error_text(record)
    assert text == "node 5 (SegueSaveSegment): PlanError: cannot read key_000.png: planned 17 frames"
    assert SERVER_ROOT not in text and "Traceback" not in text and "secret" not in text
    assert strip_server_paths(r"open C:\Users\me\ComfyUI\models\x.safetensors failed") == "open x.safetensors failed"
    assert execution_error_text({"event": "execution_interrupted", "node_id": "2", "node_type": "X"}) == \
        "interrupted at node 2 (X)"
    assert is_out_of_memory({"exception_type": "torch.OutOfMemoryError"})
    assert not is_out_of_memory(record)


def test_history_helpers():
    ok = {"status": {"status_str": "success", "messages": []}}
    err = {"status": {"status_str": "error", "messages": [["execution_error", {
        "node_id": "5", "node_type": "SegueSaveSegment", "exception_type": "PlanError",
        "exception_message": "planned 17 frames but got 13\n"}]]}}
    stop = {"status": {"status_str": "error", "messages": [["execution_interrupted", {"node_id": "2", "node_type": "X"}]]}}
    assert [history_outcome(e) for e in (ok, err, stop)] == ["success", "error", "interrupted"]
    assert execution_error_text(history_error(err)) == "node 5 (SegueSaveSegment): PlanError: planned 17 frames but got 13"
    assert history_error(stop)["event"] == "execution_interrupted"
    assert format_node_errors({}) == []


# --- websocket ------------------------------------------------------------------------------------

def test_event_stream_reports_silence_and_a_dropped_connection(fake):
    client = ComfyClient(fake.url)
    ws = client.websocket(timeout=5)
    assert json.loads(ws.recv(timeout=5))["type"] == "status"
    assert ws.recv(timeout=0.2) is None
    fake.drop_websockets()
    with pytest.raises(EventsClosed):
        for _ in range(50):
            ws.recv(timeout=0.1)
    ws.close()
    fake.no_websocket = True
    with pytest.raises(ServerUnreachable, match="websocket is unreachable"):
        client.websocket(timeout=5)


# --- progress -------------------------------------------------------------------------------------

def run_events(p):
    p.step_state("seg_000", "submitted", "gpu1:8188")
    p.step_state("seg_000", "running", "gpu1:8188")
    p.step_node("seg_000", "KSampler")
    for v in range(1, 21):
        p.step_progress("seg_000", v, 20)
    p.step_state("seg_001", "submitted", "gpu2:8188")


def test_progress_without_a_terminal_is_plain_lines():
    stream = io.StringIO()
    p = Progress("travel r1", ["seg_000", "seg_001", "seg_002", "final"], stream=stream)
    run_events(p)
    assert p.server_line("gpu1:8188") == "gpu1:8188: step 1/4 seg_000 KSampler 20/20"
    assert p.server_line("gpu2:8188") == "gpu2:8188: queued: seg_001"
    p.step_state("seg_000", "done", "gpu1:8188")
    p.close()
    log = stream.getvalue()
    assert "\r" not in log and "\x1b" not in log
    lines = log.splitlines()
    assert "[travel r1 0/4] seg_000 running on gpu1:8188" in lines
    assert [ln for ln in lines if "KSampler" in ln] == [f"[travel r1 0/4] seg_000 on gpu1:8188: KSampler {v}/20"
                                                        for v in (1, 5, 10, 15, 20)]       # first, then quarters
    assert lines[-1] == "[travel r1 1/4] seg_000 done on gpu1:8188"


def test_progress_on_a_terminal_draws_tqdm_bars():
    stream = io.StringIO()
    p = Progress("travel r1", ["seg_000", "seg_001", "seg_002", "final"], stream=stream, tty=True)
    run_events(p)
    p.note("a note")
    p.step_state("seg_000", "done", "gpu1:8188")
    p.close()
    out = stream.getvalue()
    assert "\r" in out and "travel r1" in out and "1/4" in out
    assert "gpu1:8188: step 1/4 seg_000 KSampler 20/20" in out and "gpu2:8188: queued: seg_001" in out
    assert "a note\n" in out


def test_a_disabled_display_prints_nothing():
    disabled = io.StringIO()
    Progress("x", ["a"], stream=disabled, enabled=False).step_state("a", "done")
    assert disabled.getvalue() == ""
