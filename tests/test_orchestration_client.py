"""The HTTP client and the RFC 6455 websocket client, against small in-process servers."""

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segue.orchestration.client import ComfyClient, format_node_errors, history_error, history_outcome
from segue.orchestration.errors import PromptRejected, ServerUnreachable, UploadRejected
from segue.orchestration.progress import RunProgress
from segue.orchestration.websocket import GUID, WebSocket, WebSocketError

from test_orchestration_fakeserver import FakeComfy


# --- websocket ------------------------------------------------------------------------------------

def frame(opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def read_client_frame(conn):
    def exact(n):
        data = b""
        while len(data) < n:
            data += conn.recv(n - len(data))
        return data
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    assert b1 & 0x80, "client frames must be masked"
    mask = exact(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(exact(n)))
    return b0 & 0x0F, payload


@pytest.fixture
def ws_server():
    """Serves one websocket connection with a scripted exchange; records what the client sent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = []
    big = json.dumps({"type": "executed", "data": {"blob": "x" * 70000}}).encode()

    def serve():
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = [line.split(b": ", 1)[1] for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key")][0]
        accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
        received.append(request.split(b"\r\n", 1)[0].decode())
        # The first frame rides in the same packet as the handshake answer.
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + frame(0x1, b'{"type": "status"}'))
        conn.sendall(frame(0x1, b'{"type": "prog', fin=False) + frame(0x0, b'ress"}'))
        conn.sendall(frame(0x9, b"ping!"))
        received.append(read_client_frame(conn))
        conn.sendall(frame(0x2, b"\x00\x00\x00\x01jpeg"))
        conn.sendall(frame(0x1, big))
        received.append(read_client_frame(conn))          # the client's text message
        conn.sendall(frame(0x8, struct.pack("!H", 1000)))
        received.append(read_client_frame(conn))          # the close answer
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received, big
    thread.join(5)
    listener.close()


def test_websocket_handshake_fragments_ping_binary_large_and_close(ws_server):
    port, received, big = ws_server
    ws = WebSocket(f"ws://127.0.0.1:{port}/ws?clientId=abc", timeout=5)
    assert ws.recv(timeout=5) == '{"type": "status"}'
    assert ws.recv(timeout=5) == '{"type": "progress"}'           # two fragments, the ping answered between
    assert ws.recv(timeout=5) == b"\x00\x00\x00\x01jpeg"
    assert ws.recv(timeout=5) == big.decode()
    ws.send_text("hello")
    with pytest.raises(WebSocketError, match="closed"):
        ws.recv(timeout=5)
    deadline = time.monotonic() + 5
    while len(received) < 4 and time.monotonic() < deadline:     # the server thread records the close
        time.sleep(0.01)
    assert received[0] == "GET /ws?clientId=abc HTTP/1.1"
    assert received[1] == (0xA, b"ping!")
    assert received[2] == (0x1, b"hello")
    assert received[3][0] == 0x8
    ws.close()


def test_websocket_recv_returns_none_on_silence_and_refuses_bad_handshakes():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)

    def serve():
        for answer in (b"HTTP/1.1 404 Not Found\r\n\r\n", None):
            conn, _ = listener.accept()
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            if answer is None:
                key = [ln.split(b": ", 1)[1] for ln in request.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key")][0]
                answer = (b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: "
                          + base64.b64encode(hashlib.sha1(key + GUID.encode()).digest()) + b"\r\n\r\n")
                conn.sendall(answer)
                conn.recv(100)                                 # hold the socket open until the client closes
            else:
                conn.sendall(answer)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    with pytest.raises(WebSocketError, match="refused: HTTP/1.1 404"):
        WebSocket(f"ws://127.0.0.1:{port}/ws", timeout=5)
    ws = WebSocket(f"ws://127.0.0.1:{port}/ws", timeout=5)
    assert ws.recv(timeout=0.2) is None
    ws.close()
    listener.close()


# --- HTTP client ----------------------------------------------------------------------------------

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


def test_node_errors_on_200_are_a_rejection_shown_per_node(scripted):
    server, url = scripted
    node_errors = {"7": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                     "details": "mode: 'sideways' not in ['chained', 'independent']"}],
                         "dependent_outputs": ["9"], "class_type": "SegueTravelGuide"}}
    Scripted.answers = {"/prompt": (200, {"prompt_id": "p", "number": 1, "node_errors": node_errors})}
    prompt = {"7": {"class_type": "SegueTravelGuide", "inputs": {}, "_meta": {"title": "guide segment 0"}}}
    with pytest.raises(PromptRejected) as e:
        ComfyClient(url).submit(prompt, "p")
    assert e.value.node_errors == ["node 7 (SegueTravelGuide, 'guide segment 0'): Value not in list: "
                                   "mode: 'sideways' not in ['chained', 'independent']"]
    Scripted.answers = {"/prompt": (400, {"error": {"type": "invalid_prompt", "message": "Cannot execute",
                                                    "details": "node X does not exist"}, "node_errors": {}})}
    with pytest.raises(PromptRejected, match="Cannot execute\n  node X does not exist"):
        ComfyClient(url).submit(prompt, "p")


def test_upload_over_the_limit_says_how_to_raise_it(scripted, tmp_path):
    _, url = scripted
    Scripted.answers = {"/upload/image": (413, {})}
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(2048))
    with pytest.raises(UploadRejected, match=r"default is 100 MB.*--max-upload-size.*input/segue/r/"):
        ComfyClient(url).upload(path, "clip.mp4", "segue/r")


def test_unreachable_server_is_one_line_naming_it():
    with pytest.raises(ServerUnreachable, match=r"http://127\.0\.0\.1:9 is unreachable"):
        ComfyClient("127.0.0.1:9", timeout=2).system_stats()
    with pytest.raises(ValueError):
        ComfyClient("ftp://x")


def test_interrupt_and_cancel_touch_only_our_prompt(tmp_path):
    fake = FakeComfy(tmp_path).start()
    try:
        fake.paused.set()
        client = ComfyClient(fake.url)
        mine = client.submit({"1": {"class_type": "SegueFileList", "inputs": {}}}, "mine")
        fake.foreign = 1
        assert client.interrupt(mine) is False and fake.interrupts == []     # pending, not running
        assert client.cancel("foreign-0") == "removed from the queue"       # ids not in our queue are untouched
        assert client.cancel(mine) == "removed from the queue"
        assert client.queue() == ([], ["foreign-0"])
        with fake.lock:
            fake.running = "mine-running"
        assert client.cancel("mine-running") == "interrupted" and fake.interrupts == ["mine-running"]
        assert client.cancel("gone") == "not queued"
    finally:
        fake.stop()


def test_history_helpers():
    ok = {"status": {"status_str": "success", "messages": []}}
    err = {"status": {"status_str": "error", "messages": [["execution_error", {
        "node_id": "5", "node_type": "SegueSaveSegment", "exception_type": "PlanError",
        "exception_message": "planned 17 frames but got 13\n"}]]}}
    stop = {"status": {"status_str": "error", "messages": [["execution_interrupted", {"node_id": "2", "node_type": "X"}]]}}
    assert [history_outcome(e) for e in (ok, err, stop)] == ["success", "error", "interrupted"]
    assert history_error(err) == "node 5 (SegueSaveSegment): PlanError: planned 17 frames but got 13"
    assert format_node_errors({}) == []


# --- progress -------------------------------------------------------------------------------------

def test_progress_block_shows_each_server_and_sampler_steps():
    import io
    stream = io.StringIO()
    p = RunProgress("travel r1", ["seg_000", "seg_001", "seg_002", "final"], stream=stream)
    p.step_state("seg_000", "submitted", "gpu1:8188")
    p.step_state("seg_000", "running", "gpu1:8188")
    p.step_node("seg_000", "KSampler")
    p.step_progress("seg_000", 7, 20)
    p.step_state("seg_001", "submitted", "gpu2:8188")
    lines = p.lines()
    assert lines[0].startswith("travel r1 [") and "0/4 steps" in lines[0]
    assert "  gpu1:8188: step 1/4 seg_000 KSampler 7/20" in lines
    assert "  gpu2:8188: queued: seg_001" in lines
    p.step_state("seg_000", "done", "gpu1:8188")
    assert "1/4 steps" in p.lines()[0]
    log = stream.getvalue()                         # not a TTY: one line per change, sampler by quarters
    assert "seg_000 running on gpu1:8188" in log and "KSampler 7/20" in log and "seg_000 done" in log
