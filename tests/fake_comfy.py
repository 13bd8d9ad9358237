"""An in-process stand-in for a ComfyUI server, for orchestration tests that run everywhere.

Built on aiohttp like ComfyUI itself, it speaks the parts of ComfyUI's API the runner uses
(``/prompt``, ``/queue``, ``/history``, ``/view`` with HEAD, ``/upload/image``, ``/interrupt``,
``/object_info``, ``/system_stats`` and the ``/ws`` event stream with ComfyUI's message shapes),
keeps queue and history in memory like the real server (``stop()`` loses them, files stay), and
"executes" prompts by writing real video files with the frame counts the Segue saving nodes would
write, so the runner's download and frame check run for real.  Other users' prompts are real
queue entries (``add_foreign``), executed in turn like ours.

Faults, each switched on by a test: ``fail`` / ``oom`` (a saving node raises, once, with a
traceback and server paths in the record), ``wrong_frames`` (a file with another frame count),
``no_output`` (success without the file), ``faults`` (scripted HTTP answers: a status with
``Retry-After`` or a body, or a connection reset before or after handling), ``truncate`` (a download broken
off mid-file), ``silent`` (every request and the websocket stop answering), ``no_websocket``
(``/ws`` answers 404), ``drop_websockets()``, ``paused`` (nothing starts).

``/object_info`` is ``node_contract.json``: a snapshot of a real server's schemas for every class
the graphs use, which a comfyui-marked test compares with a live server (and refreshes).

``jobs_api=True`` makes it a ComfyUI 0.27: ``GET /api/jobs``, ``GET /api/jobs/{id}`` and ``POST
/api/jobs/{id}/cancel`` answer as 0.27's do (``jobs_requests`` counts them), and ``/prompt``
refuses a ``prompt_id`` that is not a canonical lowercase UUID (400 ``invalid_prompt_id``).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from aiohttp import WSMsgType, web

from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.travel_plan import plan_travel

SAVING = ("SeguePreviewStep", "SegueSaveStep", "SegueStitchFiles", "SegueJoinAssembleFiles")
FINAL_SAVING = ("SegueStitchFiles", "SegueJoinAssembleFiles")
GENERATING = ("SeguePreviewStep", "SeguePreviewGenerator", "KSampler", "KSamplerAdvanced")
SERVER_ROOT = "/srv/comfyui"          # what the fake's error messages pretend its install path is

# The node schemas the fake serves: a snapshot of a real ComfyUI's /object_info for every class the
# orchestrator's graphs use (test_orchestration_fakeserver.py checks it against a live server and
# rewrites it with SEGUE_REFRESH_NODE_CONTRACT=1).  Model-file lists depend on the install, so
# they are empty in the snapshot and the fake fills in its own names.
CONTRACT_PATH = Path(__file__).resolve().parent / "node_contract.json"
MODEL_COMBOS = {("UNETLoader", "unet_name"): ["wan_vace.safetensors", "high.safetensors", "low.safetensors"],
                ("VAELoader", "vae_name"): ["wan_vae.safetensors"],
                ("CLIPLoader", "clip_name"): ["umt5.safetensors"],
                ("CLIPVisionLoader", "clip_name"): ["clip_vision_h.safetensors"],
                ("LoraLoaderModelOnly", "lora_name"): ["style.safetensors"]}
SPEC_KEYS = ("min", "max", "options")


def contract_entry(info: dict, cls: str) -> dict:
    """One class of /object_info reduced to what graphs and validation use (input names, types,
    combo options, bounds; outputs), model-file lists emptied."""
    def spec(name, value):
        kind = value[0] if isinstance(value, (list, tuple)) and value else value
        opts = value[1] if isinstance(value, (list, tuple)) and len(value) > 1 and isinstance(value[1], dict) else {}
        opts = {k: v for k, v in opts.items() if k in SPEC_KEYS}
        if (cls, name) in MODEL_COMBOS:
            kind, opts = ("COMBO", {"options": []}) if kind == "COMBO" else ([], {})
        return [kind, opts]
    inputs = info.get("input") or {}
    return {"input": {part: {k: spec(k, v) for k, v in (inputs.get(part) or {}).items()}
                      for part in ("required", "optional")},
            "output": list(info.get("output") or []), "name": cls}


def load_contract() -> dict:
    return json.loads(CONTRACT_PATH.read_text())


def object_info(contract: dict | None = None) -> dict:
    """The fake's /object_info: the contract with its own model files listed."""
    info = json.loads(json.dumps(contract or load_contract()))
    for (cls, name), files in MODEL_COMBOS.items():
        spec = (info.get(cls) or {}).get("input", {}).get("required", {}).get(name)
        if spec is not None:
            if spec[0] == "COMBO":
                spec[1]["options"] = list(files)
            else:
                spec[0] = list(files)
    return info


def write_video(path: Path, frames: int, seed: int = 0, size: int = 16, noise: bool = False) -> None:
    """A real video with ``frames`` frames: FFV1 in .mkv, H.264 in .mp4 (``noise``: incompressible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    mp4 = path.suffix == ".mp4"
    rng = np.random.default_rng(seed)
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264" if mp4 else "ffv1", rate=16)
        s.width = s.height = size
        s.pix_fmt = "yuv420p" if mp4 else "bgr0"
        for i in range(frames):
            img = (rng.integers(0, 256, (size, size, 3), np.uint8) if noise
                   else np.full((size, size, 3), (seed * 37 + i * 11) % 256, np.uint8))
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(path)


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.frames or sum(1 for p in c.demux(s) if p.size)


@dataclass
class Fault:
    """One scripted HTTP answer for requests matching ``method`` and ``path`` (a prefix).

    ``status``: answer it (e.g. 503, with ``retry_after`` as the header); ``reset``: ``before``
    (drop the connection without handling the request) or ``after`` (handle it, then drop the
    connection instead of answering).  Used ``times`` times."""

    method: str
    path: str
    status: int = 0
    retry_after: str | None = None
    reset: str = ""
    times: int = 1
    body: dict | None = None


class AioServer:
    """An aiohttp app on 127.0.0.1 in a thread of its own, with scripted faults (``faults``,
    ``silent``) applied to every request before the app sees it."""

    def __init__(self, port: int = 0):
        self.port = port
        self.faults: list[Fault] = []
        self.silent = threading.Event()       # set: no request is answered, the websocket says nothing
        self.requests: list[tuple[str, str]] = []
        self.sockets: dict[web.WebSocketResponse, str] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.loop = asyncio.new_event_loop()
        ready, failed = threading.Event(), []

        def serve():
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._start())
            except BaseException as e:            # noqa: BLE001 - reported to start()
                failed.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True, name=type(self).__name__)
        self.thread.start()
        ready.wait(10)
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        if self.loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.loop = None

    def call(self, fn, *args):
        """Run ``fn`` on the server's thread (state changes from a test, without races)."""
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def drop_websockets(self) -> None:
        async def close_all():
            for ws in list(self.sockets):
                await ws.close()
        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(10)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=1 << 30)
        self.routes(app)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        for ws in list(self.sockets):
            if ws._req is not None and ws._req.transport is not None:
                ws._req.transport.abort()
        await self.runner.cleanup()

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        while self.silent.is_set():
            await asyncio.sleep(0.02)          # accepted, never answered (until un-silenced)
        fault = next((f for f in self.faults if f.times > 0 and f.method == request.method
                      and request.path.startswith(f.path)), None)
        if fault is None:
            return await handler(request)
        fault.times -= 1
        if fault.status:
            await request.read()
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response(fault.body or {"error": "fake fault"}, status=fault.status, headers=headers)
        if fault.reset == "after":
            await handler(request)
        _reset(request)
        return web.Response()


class FakeComfy(AioServer):
    def __init__(self, root: Path, port: int = 0, delay: float = 0.05, info: dict | None = None,
                 frame_size: int = 16, jobs_api: bool = False):
        super().__init__(port)
        self.jobs_api = jobs_api
        self.jobs_requests: list[tuple[str, str]] = []
        self.root = Path(root)
        for sub in ("input", "output", "temp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.delay = delay
        self.frame_size = frame_size
        self.info = info or object_info()
        self.fail: set[str] = set()           # file stems whose saving node raises once
        self.oom: set[str] = set()            # ... runs out of memory once
        self.wrong_frames: dict[str, int] = {}  # stem -> frames added to what the node should write
        self.no_output: set[str] = set()      # stems whose prompt succeeds without writing the file
        self.truncate: set[str] = set()       # file names whose next download breaks off mid-file
        self.progress_steps = 4
        self.error_in_history = True          # False: a failure's record only goes out on the websocket
        self.paused = threading.Event()       # set: the worker starts no prompt
        self.no_websocket = False
        self.submitted: list[tuple[str, dict]] = []
        self.uploads: list[str] = []
        self.interrupts: list[str | None] = []
        self.sent: list[tuple[str, dict]] = []   # websocket messages sent (event, data)
        self.queue: list[tuple[str, dict, str]] = []   # (prompt id, prompt, client id)
        self.running: str | None = None
        self.history: dict[str, dict] = {}

    def start(self) -> "FakeComfy":
        return super().start()

    def stop(self) -> None:
        """Like killing ComfyUI: queue, running prompt and history are lost; files stay."""
        super().stop()

    def add_foreign(self, prompt_id: str, client_id: str = "someone-else") -> None:
        """Another user's prompt, queued like ours (it runs in turn and writes nothing of ours)."""
        self.call(lambda: self.queue.append((prompt_id, {"1": {"class_type": "SegueFileList", "inputs": {}}},
                                             client_id)))

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/system_stats", self._system_stats)
        app.router.add_get("/object_info", self._object_info)
        app.router.add_get("/queue", self._get_queue)
        app.router.add_post("/queue", self._post_queue)
        app.router.add_get("/prompt", self._get_prompt)
        app.router.add_post("/prompt", self._post_prompt)
        app.router.add_get("/history", self._all_history)
        app.router.add_get("/history/{prompt_id}", self._get_history)
        app.router.add_get("/view", self._view)               # aiohttp answers HEAD from it too
        app.router.add_post("/interrupt", self._interrupt)
        app.router.add_post("/upload/image", self._upload)
        app.router.add_get("/ws", self._ws)
        if self.jobs_api:
            app.router.add_get("/api/jobs", self._jobs)
            app.router.add_get("/api/jobs/{prompt_id}", self._job)
            app.router.add_post("/api/jobs/{prompt_id}/cancel", self._cancel_job)

    async def _start(self) -> None:
        await super()._start()
        self.interrupted = False
        self.worker = asyncio.ensure_future(self._work())

    async def _stop(self) -> None:
        self.worker.cancel()
        await super()._stop()

    # --- events ---
    def _send(self, event: str, data: dict, client_id: str | None = None) -> None:
        if self.silent.is_set():
            return
        self.sent.append((event, data))
        text = json.dumps({"type": event, "data": data})
        for ws, cid in list(self.sockets.items()):
            if client_id is None or cid == client_id:
                asyncio.ensure_future(self._safe_send(ws, text))

    @staticmethod
    async def _safe_send(ws, text):
        try:
            await ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass

    def _status(self) -> None:
        self._send("status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}})

    def _remaining(self) -> int:
        return len(self.queue) + (1 if self.running else 0)

    # --- execution ---
    async def _work(self):
        while True:
            if self.paused.is_set() or not self.queue:
                await asyncio.sleep(0.01)
                continue
            prompt_id, prompt, client_id = self.queue.pop(0)
            self.running, self.interrupted = prompt_id, False
            self._status()
            self._send("execution_start", {"prompt_id": prompt_id, "timestamp": int(time.time() * 1000)}, client_id)
            self._send("execution_cached", {"nodes": [], "prompt_id": prompt_id}, client_id)
            entry = await self._execute(prompt_id, prompt, client_id)
            entry["prompt"] = [0, prompt_id, prompt, {"client_id": client_id}, []]
            self.history[prompt_id] = entry
            self.running = None
            self._send("executing", {"node": None, "display_node": None, "prompt_id": prompt_id}, client_id)
            self._status()

    async def _execute(self, prompt_id: str, prompt: dict, client_id: str) -> dict:
        outputs, messages = {}, [["execution_start", {"prompt_id": prompt_id}]]
        order = sorted(prompt, key=lambda k: (prompt[k]["class_type"] in SAVING,
                                              prompt[k]["class_type"] in FINAL_SAVING))
        steps = max(self.progress_steps, 1)
        for node_id in order:
            node = prompt[node_id]
            cls, inputs = node["class_type"], node["inputs"]
            self._send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}, client_id)
            if cls in GENERATING or node_id == order[-1] and not any(prompt[k]["class_type"] in GENERATING for k in prompt):
                for i in range(steps):
                    await asyncio.sleep(self.delay / steps)
                    if self.interrupted:
                        record = {"prompt_id": prompt_id, "node_id": node_id, "node_type": cls, "executed": []}
                        self._send("execution_interrupted", record, client_id)
                        return {"outputs": outputs, "status": {"status_str": "error", "completed": False,
                                "messages": messages + [["execution_interrupted", record]]}}
                    self._send("progress", {"value": i + 1, "max": steps, "prompt_id": prompt_id, "node": node_id},
                               client_id)
            if cls not in SAVING:
                continue
            stem = inputs["filename"]
            short = stem.rsplit("/", 1)[-1]
            error = self._failure(short, prompt_id, node_id, cls)
            if error:
                self._send("execution_error", error, client_id)
                kept = [["execution_error", error]] if self.error_in_history else []
                return {"outputs": outputs, "status": {"status_str": "error", "completed": False,
                                                       "messages": messages + kept}}
            if short in self.no_output:
                self.no_output.discard(short)
                continue
            frames, suffix = self._frames(cls, inputs, prompt)
            frames += self.wrong_frames.get(short, 0)
            path = self.root / inputs.get("folder", "output") / (stem + suffix)
            write_video(path, frames, seed=len(stem), size=self.frame_size, noise=self.frame_size > 16)
            ui = {"segue_files": [{"filename": path.name, "subfolder": str(Path(stem).parent),
                                   "type": "output", "frames": frames}]}
            outputs[node_id] = ui
            self._send("executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id},
                       client_id)
        messages.append(["execution_success", {"prompt_id": prompt_id}])
        self._send("execution_success", {"prompt_id": prompt_id}, client_id)
        return {"outputs": outputs, "status": {"status_str": "success", "completed": True, "messages": messages}}

    def _failure(self, short: str, prompt_id: str, node_id: str, cls: str) -> dict | None:
        """ComfyUI's execution_error record, with the traceback and paths a real one carries."""
        if short in self.oom:
            self.oom.discard(short)
            kind, message = "torch.OutOfMemoryError", ("Allocation on device \nThis error means you ran out of "
                                                      "memory on your GPU.\n\nTIPS: If the workflow worked before...")
        elif short in self.fail:
            self.fail.discard(short)
            kind = "ValueError"
            message = f"fake failure reading {SERVER_ROOT}/input/segue/x/{short}.png\n"
        else:
            return None
        return {"prompt_id": prompt_id, "node_id": node_id, "node_type": cls, "executed": [],
                "exception_message": message, "exception_type": kind,
                "traceback": [f'  File "{SERVER_ROOT}/execution.py", line 496, in execute\n',
                              f'  File "{SERVER_ROOT}/custom_nodes/segue/nodes/io_nodes.py", line 12, in save\n'],
                "current_inputs": {"filename": [short]}, "current_outputs": []}

    def _frames(self, cls: str, inputs: dict, prompt: dict) -> tuple[int, str]:
        """The frames the real saving node would write: re-planned from the step node it saves."""
        if cls == "SegueStitchFiles":
            counts = [count_frames(p) for p in self._files(inputs["segment_files"], prompt)]
            overlaps = _ints(inputs["overlaps"])
            overlaps = overlaps * (len(counts) - 1) if len(overlaps) == 1 else overlaps
            return sum(counts) - sum(overlaps[:len(counts) - 1]) - inputs["trim_start"], ".mp4"
        if cls == "SegueJoinAssembleFiles":
            clips = [count_frames(p) for p in self._files(inputs["clip_files"], prompt)]
            self._files(inputs["transition_files"], prompt)
            return _join_plan(clips, inputs).total_frames, ".mp4"
        step = prompt[str(inputs["step"][0])]
        settings = step["inputs"]
        if step["class_type"] == "SegueTravelStep":
            images = prompt[str(settings["keyframes"][0])]["inputs"]["images"]
            frames, overlap = _ints(settings["segment_frames"]), _ints(settings["overlap"])
            plan = plan_travel(len([n for n in images.splitlines() if n.strip()]),
                               frames[0] if len(frames) == 1 else frames, overlap[0] if len(overlap) == 1 else overlap,
                               settings["mode"], settings["exact_keyframes"], loop=bool(settings.get("loop")))
            return plan.segments[settings["segment_index"]].kept_frames, ".mkv"
        clips = [count_frames(p) for p in self._files(settings["clip_files"], prompt)]
        return _join_plan(clips, settings).joins[settings["join_index"]].generation_frames, ".mkv"

    def _files(self, value, prompt) -> list[Path]:
        if isinstance(value, list):      # linked from a SegueFileList chain
            names, node = [], prompt[value[0]]
            while True:
                save = prompt[node["inputs"]["video"][0]]
                names.insert(0, f"{save['inputs']['filename']}.mkv [output]")
                if "files" not in node["inputs"]:
                    break
                node = prompt[node["inputs"]["files"][0]]
        else:
            names = [line for line in value.splitlines() if line.strip()]
        paths = []
        for name in names:
            m = re.fullmatch(r"(.*?)(?: \[(input|output|temp)\])?", name.strip())
            path = self.root / (m.group(2) or "input") / m.group(1)
            if not path.is_file():
                raise AssertionError(f"fake server: {name} is missing")
            paths.append(path)
        return paths

    # --- HTTP ---
    async def _system_stats(self, request):
        return web.json_response({"system": {"comfyui_version": "fake", "argv": ["main.py"]}, "devices": []})

    async def _object_info(self, request):
        return web.json_response(self.info)

    async def _all_history(self, request):
        return web.json_response(self.history)

    async def _get_queue(self, request):
        running = [[0, self.running, {}, {}, []]] if self.running else []
        pending = [[i + 1, pid, {}, {"client_id": cid}, []] for i, (pid, _, cid) in enumerate(self.queue)]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _post_queue(self, request):
        data = await request.json()
        if data.get("clear"):
            self.queue.clear()
        delete = data.get("delete", [])
        self.queue = [q for q in self.queue if q[0] not in delete]
        self._status()
        return web.Response()

    async def _get_prompt(self, request):
        return web.json_response({"exec_info": {"queue_remaining": self._remaining()}})

    async def _get_history(self, request):
        pid = request.match_info["prompt_id"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    # --- the jobs API (ComfyUI 0.27) ---
    def _job_state(self, pid: str) -> dict | None:
        if pid in self.history:
            status = self.history[pid]["status"]
            events = [event for event, _ in status.get("messages", [])]
            state = "completed" if status.get("status_str") == "success" else \
                "cancelled" if "execution_interrupted" in events else "failed"
            return {"id": pid, "status": state, "outputs": self.history[pid]["outputs"], "execution_status": status}
        if pid == self.running:
            return {"id": pid, "status": "in_progress"}
        if any(q[0] == pid for q in self.queue):
            return {"id": pid, "status": "pending"}
        return None

    async def _jobs(self, request):
        self.jobs_requests.append(("GET", "/api/jobs"))
        ids = [q[0] for q in self.queue] + ([self.running] if self.running else []) + list(self.history)
        return web.json_response({"jobs": [self._job_state(i) for i in ids], "pagination": {"total": len(ids)}})

    async def _job(self, request):
        pid = request.match_info["prompt_id"]
        self.jobs_requests.append(("GET", pid))
        job = self._job_state(pid)
        return web.json_response(job) if job else web.json_response({"error": "Job not found"}, status=404)

    async def _cancel_job(self, request):
        pid = request.match_info["prompt_id"]
        self.jobs_requests.append(("cancel", pid))
        if any(q[0] == pid for q in self.queue):
            self.queue = [q for q in self.queue if q[0] != pid]
            self._status()
            return web.json_response({"cancelled": True})
        if self.running == pid:
            self.interrupted = True
            return web.json_response({"cancelled": True})
        return web.json_response({"cancelled": False})

    async def _post_prompt(self, request):
        data = await request.json()
        pid = data.get("prompt_id")
        if self.jobs_api and pid is not None and not _canonical_uuid(pid):
            return web.json_response({"error": {"type": "invalid_prompt_id", "message": "prompt_id must be a valid "
                                                "UUID", "details": "", "extra_info": {}}, "node_errors": {}},
                                     status=400)
        errors = self._validate(data["prompt"])
        if errors:
            return web.json_response({"error": {"type": "prompt_outputs_failed_validation",
                                                "message": "Prompt outputs failed validation", "details": ""},
                                      "node_errors": errors}, status=400)
        pid = data.get("prompt_id")
        self.queue.append((pid, data["prompt"], data.get("client_id", "")))
        self.submitted.append((pid, data["prompt"]))
        self._status()
        return web.json_response({"prompt_id": pid, "number": len(self.submitted), "node_errors": {}})

    async def _interrupt(self, request):
        body = await request.read()
        pid = json.loads(body or b"{}").get("prompt_id")
        self.interrupts.append(pid)
        if self.running and pid in (None, self.running):   # like ComfyUI: no id = whatever runs
            self.interrupted = True
        return web.Response()

    async def _upload(self, request):
        form = await request.post()
        kind, sub, image = form["type"], form["subfolder"], form["image"]
        target = self.root / kind / sub / image.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image.file.read())
        self.uploads.append(f"{kind}/{sub}/{image.filename}")
        return web.json_response({"name": image.filename, "subfolder": sub, "type": kind})

    async def _view(self, request):
        q = request.query
        file = self.root / q.get("type", "output") / q.get("subfolder", "") / q["filename"]
        if not file.is_file():
            return web.json_response({}, status=404)
        data = file.read_bytes()
        if request.method == "GET" and q["filename"] in self.truncate:
            self.truncate.discard(q["filename"])
            response = web.StreamResponse(headers={"Content-Length": str(len(data))})
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            _reset(request)
            return response
        return web.Response(body=data, content_type="application/octet-stream")

    async def _ws(self, request):
        if self.no_websocket:
            return web.json_response({}, status=404)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client_id = request.query.get("clientId", "")
        self.sockets[ws] = client_id
        if not self.silent.is_set():
            await ws.send_str(json.dumps({"type": "status", "data": {
                "status": {"exec_info": {"queue_remaining": self._remaining()}}, "sid": client_id}}))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.pop(ws, None)
        return ws

    def _validate(self, prompt: dict) -> dict:
        """Like ComfyUI's validation, for what the fake can check: classes and combo values."""
        errors = {}
        for node_id, node in prompt.items():
            cls = node["class_type"]
            if cls not in self.info:
                errors[node_id] = {"errors": [{"type": "invalid_prompt", "message": "unknown class",
                                               "details": cls}], "class_type": cls, "dependent_outputs": []}
                continue
            spec = self.info[cls]["input"]
            for name, value in node["inputs"].items():
                kind = (spec["required"].get(name) or spec["optional"].get(name) or [None])[0]
                if isinstance(kind, list) and not isinstance(value, list) and value not in kind:
                    errors.setdefault(node_id, {"errors": [], "class_type": cls, "dependent_outputs": []})
                    errors[node_id]["errors"].append({
                        "type": "value_not_in_list", "message": "Value not in list",
                        "details": f"{name}: '{value}' not in {kind}",
                        "extra_info": {"input_name": name, "received_value": value}})
        return errors


class FlakyProxy(AioServer):
    """A proxy in front of a real ComfyUI that adds the same scripted faults (``faults``,
    ``silent``), websocket included: ``drop_websockets()`` cuts every event stream, and with
    ``no_websocket`` set new ones are refused (``/ws`` answers 404)."""

    HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}

    def __init__(self, target: str, port: int = 0):
        super().__init__(port)
        self.target = target.rstrip("/")
        self.no_websocket = False

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/ws", self._ws)
        app.router.add_route("*", "/{tail:.*}", self._forward)

    async def _start(self) -> None:
        import aiohttp
        self.session = aiohttp.ClientSession(auto_decompress=False)
        await super()._start()

    async def _stop(self) -> None:
        await super()._stop()
        await self.session.close()

    async def _forward(self, request: web.Request):
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self.HOP}
        async with self.session.request(request.method, self.target + request.path_qs, headers=headers,
                                        data=await request.read(), allow_redirects=False) as r:
            body = await r.read()
            out = {k: v for k, v in r.headers.items() if k.lower() not in self.HOP | {"content-encoding"}}
            if request.method == "HEAD":
                response = web.StreamResponse(status=r.status, headers=out)
                response.content_length = int(r.headers.get("Content-Length", 0))
                await response.prepare(request)
                return response
            return web.Response(status=r.status, body=body, headers=out)

    async def _ws(self, request: web.Request):
        if self.no_websocket:
            return web.json_response({}, status=404)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets[ws] = request.query.get("clientId", "")
        url = self.target.replace("http", "ws", 1) + request.path_qs
        try:
            async with self.session.ws_connect(url) as upstream:
                async def down():
                    async for msg in upstream:
                        if self.silent.is_set():
                            continue
                        if msg.type == WSMsgType.TEXT:
                            await ws.send_str(msg.data)
                        elif msg.type == WSMsgType.BINARY:
                            await ws.send_bytes(msg.data)
                    await ws.close()

                task = asyncio.ensure_future(down())
                async for _ in ws:
                    pass
                task.cancel()
        finally:
            self.sockets.pop(ws, None)
        return ws


def _canonical_uuid(value) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _ints(text) -> list[int]:
    return [int(v) for v in re.split(r"[,\s]+", str(text)) if v]


def _join_plan(clips: list[int], settings: dict):
    blend = settings["blend"]
    return plan_join(clips, settings["context"], settings["gap"], settings["replace"], None if blend < 0 else blend,
                     json.loads(settings["per_join"] or "[]"), loop=bool(settings.get("loop")))


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset (what a crashing proxy or server does)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
