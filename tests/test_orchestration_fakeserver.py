"""An in-process stand-in for a ComfyUI server, for orchestration tests that run everywhere.

It speaks the parts of ComfyUI's HTTP API the runner uses (``/prompt``, ``/queue``, ``/history``,
``/view`` with HEAD, ``/upload/image``, ``/interrupt``, ``/object_info``, ``/system_stats``) on
127.0.0.1, keeps queue and history in memory like the real server (a ``stop()`` loses them, the
files on disk stay), and "executes" prompts by writing real video files with the frame counts the
Segue saving nodes would write, so the runner's download + frame check are exercised for real.
It has no websocket (``/ws`` answers 404), so the runner's polling fallback is what runs here.

``/object_info`` is built from docs/node-contract.md (Segue nodes) plus the core nodes the graphs
use, so graph validation is also a contract check.  The tests of the fake itself are at the end.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np

from segue.video_utils.join_plan import plan_join

I, F, S, B = "INT", "FLOAT", "STRING", "BOOLEAN"
PRESETS = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]

# class: (required {name: type}, optional {name: type}, outputs)
CONTRACT = {
    "SegueLoadImages": ({"images": S, "width": I, "height": I, "fit": ["crop", "stretch"]}, {},
                        ["IMAGE", "INT", "INT", "INT"]),
    "SegueLoadVideo": ({"video": S, "start": I, "frame_count": I, "last_frames": I}, {},
                       ["IMAGE", "FLOAT", "INT", "VIDEO", "AUDIO"]),
    "SegueTravelGuide": ({"keyframes": "IMAGE", "segment_index": I, "segment_frames": S, "overlap": S,
                          "mode": ["chained", "independent"], "exact_keyframes": B},
                         {"previous_segment": "IMAGE", "previous_video": "VIDEO", "strength": F, "desaturate": F,
                          "darken": F}, ["IMAGE", "MASK", "INT", "INT", "INT", "INT"]),
    "SegueJoinGuide": ({"clip_a": "IMAGE", "clip_b": "IMAGE", "context": I, "gap": I, "replace": B, "bridging": B}, {},
                       ["IMAGE", "MASK", "INT", "INT", "INT"]),
    "SeguePreviewGenerator": ({"control_video": "IMAGE", "control_masks": "MASK", "method": ["flow", "blend"]}, {},
                              ["IMAGE"]),
    "SegueSaveSegment": ({"images": "IMAGE", "filename": S, "fps": F, "trim_start": I, "expected_frames": I}, {},
                         ["VIDEO"]),
    "SegueStitchFiles": ({"segment_files": S, "overlaps": S, "trim_start": I, "curve": ["cosine", "linear"],
                          "sharpen": F, "fps": F, "filename": S, "crf": I, "preset": PRESETS}, {"after": "VIDEO"},
                         ["VIDEO"]),
    "SegueJoinAssembleFiles": ({"clip_files": S, "transition_files": S, "context": I, "gap": I, "replace": B,
                                "blend": I, "per_join": S, "fps": F, "filename": S, "crf": I, "preset": PRESETS,
                                "keep_audio": B}, {"curve": ["cosine", "linear"], "sharpen": F, "after": "VIDEO"},
                               ["VIDEO"]),
    "SegueFileList": ({"video": "VIDEO"}, {"files": S}, ["STRING"]),
    "SegueGuideSlot": ({}, {}, ["IMAGE", "MASK", "INT", "INT", "INT"]),
    "SegueFramesSlot": ({"images": "IMAGE"}, {}, []),
    "UNETLoader": ({"unet_name": ["wan_vace.safetensors", "high.safetensors", "low.safetensors"],
                    "weight_dtype": ["default", "fp8_e4m3fn"]}, {}, ["MODEL"]),
    "ModelSamplingSD3": ({"model": "MODEL", "shift": F}, {}, ["MODEL"]),
    "CLIPLoader": ({"clip_name": ["umt5.safetensors"], "type": ["stable_diffusion", "wan"]}, {"device": ["default"]},
                   ["CLIP"]),
    "CLIPTextEncode": ({"text": S, "clip": "CLIP"}, {}, ["CONDITIONING"]),
    "VAELoader": ({"vae_name": ["wan_vae.safetensors"]}, {}, ["VAE"]),
    "WanVaceToVideo": ({"positive": "CONDITIONING", "negative": "CONDITIONING", "vae": "VAE", "width": I,
                        "height": I, "length": I, "batch_size": I, "strength": F},
                       {"control_video": "IMAGE", "control_masks": "MASK", "reference_image": "IMAGE"},
                       ["CONDITIONING", "CONDITIONING", "LATENT", "INT"]),
    "KSampler": ({"model": "MODEL", "seed": I, "steps": I, "cfg": F, "sampler_name": ["uni_pc", "euler"],
                  "scheduler": ["simple", "normal"], "positive": "CONDITIONING", "negative": "CONDITIONING",
                  "latent_image": "LATENT", "denoise": F}, {}, ["LATENT"]),
    "KSamplerAdvanced": ({"model": "MODEL", "add_noise": ["enable", "disable"], "noise_seed": I, "steps": I, "cfg": F,
                          "sampler_name": ["uni_pc", "euler"], "scheduler": ["simple", "normal"],
                          "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT",
                          "start_at_step": I, "end_at_step": I, "return_with_leftover_noise": ["disable", "enable"]},
                         {}, ["LATENT"]),
    "TrimVideoLatent": ({"samples": "LATENT", "trim_amount": I}, {}, ["LATENT"]),
    "VAEDecode": ({"samples": "LATENT", "vae": "VAE"}, {}, ["IMAGE"]),
    "SegueTestRandomConditioning": ({"seed": I, "tokens": I}, {}, ["CONDITIONING"]),
}


def object_info(contract: dict = CONTRACT) -> dict:
    def spec(kind):
        return [kind, {}] if isinstance(kind, str) else [list(kind), {}]
    return {cls: {"input": {"required": {k: spec(v) for k, v in req.items()},
                            "optional": {k: spec(v) for k, v in opt.items()}},
                  "output": list(outs), "name": cls}
            for cls, (req, opt, outs) in contract.items()}


def write_video(path: Path, frames: int, seed: int = 0, size: int = 16) -> None:
    """A real video with ``frames`` frames: FFV1 in .mkv, H.264 in .mp4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    mp4 = path.suffix == ".mp4"
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264" if mp4 else "ffv1", rate=16)
        s.width = s.height = size
        s.pix_fmt = "yuv420p" if mp4 else "bgr0"
        for i in range(frames):
            img = np.full((size, size, 3), (seed * 37 + i * 11) % 256, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(path)


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.frames or sum(1 for p in c.demux(s) if p.size)


class FakeComfy:
    """One fake server.  ``delay``: seconds each prompt "runs"; ``fail``: filename stems whose saving
    node fails once; ``foreign``: prompts of other users held in the queue (never finish)."""

    def __init__(self, root: Path, port: int = 0, delay: float = 0.05, info: dict | None = None):
        self.root = Path(root)
        for sub in ("input", "output", "temp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.port = port
        self.delay = delay
        self.info = info or object_info()
        self.fail: set[str] = set()
        self.foreign = 0
        self.paused = threading.Event()     # set: the worker does not start new prompts
        self.submitted: list[tuple[str, dict]] = []
        self.uploads: list[str] = []
        self.interrupts: list[str] = []
        self.http: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ---
    def start(self) -> "FakeComfy":
        self.queue: list[tuple[str, dict]] = []
        self.running: str | None = None
        self.history: dict[str, dict] = {}
        self.stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._route(self, "GET")

            def do_HEAD(self):
                fake._route(self, "HEAD")

            def do_POST(self):
                fake._route(self, "POST")

        self.http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()
        return self

    def stop(self) -> None:
        """Like killing ComfyUI: queue, running prompt and history are lost; files stay."""
        self.stopping.set()
        if self.http:
            self.http.shutdown()
            self.http.server_close()
            self.http = None
        self.worker.join(5)

    # --- execution ---
    def _work(self):
        while not self.stopping.is_set():
            with self.lock:
                item = self.queue.pop(0) if self.queue and not self.paused.is_set() else None
                if item:
                    self.running = item[0]
            if item is None:
                time.sleep(0.01)
                continue
            prompt_id, prompt = item
            time.sleep(self.delay)
            if self.stopping.is_set():
                return
            entry = self._execute(prompt_id, prompt)
            with self.lock:
                self.history[prompt_id] = entry
                self.running = None

    def _execute(self, prompt_id: str, prompt: dict) -> dict:
        outputs = {}
        order = sorted(prompt, key=lambda k: prompt[k]["class_type"] in ("SegueStitchFiles", "SegueJoinAssembleFiles"))
        for node_id in order:
            node = prompt[node_id]
            cls, inputs = node["class_type"], node["inputs"]
            if cls not in ("SegueSaveSegment", "SegueStitchFiles", "SegueJoinAssembleFiles"):
                continue
            stem = inputs["filename"]
            if stem.rsplit("/", 1)[-1] in self.fail:
                self.fail.discard(stem.rsplit("/", 1)[-1])
                return {"outputs": outputs, "status": {"status_str": "error", "completed": False, "messages": [
                    ["execution_error", {"prompt_id": prompt_id, "node_id": node_id, "node_type": cls,
                                         "exception_type": "ValueError", "exception_message": "fake failure"}]]}}
            if cls == "SegueSaveSegment":
                frames, suffix = inputs["expected_frames"], ".mkv"
            elif cls == "SegueStitchFiles":
                files = self._files(inputs["segment_files"], prompt)
                counts = [count_frames(p) for p in files]
                overlaps = [int(v) for v in re.split(r"[,\s]+", inputs["overlaps"]) if v]
                overlaps = overlaps * (len(counts) - 1) if len(overlaps) == 1 else overlaps
                frames, suffix = sum(counts) - sum(overlaps[:len(counts) - 1]) - inputs["trim_start"], ".mp4"
            else:
                clips = [count_frames(p) for p in self._files(inputs["clip_files"], prompt)]
                self._files(inputs["transition_files"], prompt)
                plan = plan_join(clips, inputs["context"], inputs["gap"], inputs["replace"],
                                 None if inputs["blend"] < 0 else inputs["blend"], json.loads(inputs["per_join"] or "[]"))
                frames, suffix = plan.total_frames, ".mp4"
            path = self.root / "output" / (stem + suffix)
            write_video(path, frames, seed=len(stem))
            outputs[node_id] = {"segue_files": [{"filename": path.name, "subfolder": str(Path(stem).parent),
                                                 "type": "output", "frames": frames}]}
        return {"outputs": outputs, "status": {"status_str": "success", "completed": True,
                                               "messages": [["execution_success", {"prompt_id": prompt_id}]]}}

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
    def _reply(self, h, status: int, body=None, raw: bytes | None = None, head: bool = False):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        h.send_response(status)
        h.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if not head:
            h.wfile.write(data)

    def _route(self, h, method: str):
        parts = urllib.parse.urlsplit(h.path)
        path, query = parts.path, dict(urllib.parse.parse_qsl(parts.query))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            if method == "GET" and path == "/system_stats":
                return self._reply(h, 200, {"system": {"comfyui_version": "fake"}, "devices": []})
            if method == "GET" and path == "/object_info":
                return self._reply(h, 200, self.info)
            if method == "GET" and path == "/queue":
                running = [[0, self.running, {}, {}, []]] if self.running else []
                pending = [[i + 1, pid, {}, {}, []] for i, (pid, _) in enumerate(self.queue)]
                pending += [[99, f"foreign-{i}", {}, {}, []] for i in range(self.foreign)]
                return self._reply(h, 200, {"queue_running": running, "queue_pending": pending})
            if method == "GET" and path == "/prompt":
                n = len(self.queue) + (1 if self.running else 0) + self.foreign
                return self._reply(h, 200, {"exec_info": {"queue_remaining": n}})
            if method == "GET" and path.startswith("/history/"):
                pid = urllib.parse.unquote(path.split("/", 2)[2])
                return self._reply(h, 200, {pid: self.history[pid]} if pid in self.history else {})
            if method in ("GET", "HEAD") and path == "/view":
                file = self.root / query.get("type", "output") / query.get("subfolder", "") / query["filename"]
                if not file.is_file():
                    return self._reply(h, 404, {}, head=method == "HEAD")
                return self._reply(h, 200, raw=file.read_bytes(), head=method == "HEAD")
            if method == "POST" and path == "/prompt":
                data = json.loads(body)
                errors = self._validate(data["prompt"])
                if errors:
                    return self._reply(h, 400, {"error": {"type": "prompt_outputs_failed_validation",
                                                          "message": "Prompt outputs failed validation"},
                                                "node_errors": errors})
                pid = data.get("prompt_id")
                self.queue.append((pid, data["prompt"]))
                self.submitted.append((pid, data["prompt"]))
                return self._reply(h, 200, {"prompt_id": pid, "number": len(self.submitted), "node_errors": {}})
            if method == "POST" and path == "/queue":
                data = json.loads(body)
                self.queue = [q for q in self.queue if q[0] not in data.get("delete", [])]
                return self._reply(h, 200)
            if method == "POST" and path == "/interrupt":
                self.interrupts.append(json.loads(body or b"{}").get("prompt_id"))
                return self._reply(h, 200)
            if method == "POST" and path == "/upload/image":
                fields = _multipart(h.headers["Content-Type"], body)
                kind, sub = fields["type"][1].decode(), fields["subfolder"][1].decode()
                name, data = fields["image"]
                target = self.root / kind / sub / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                self.uploads.append(f"{kind}/{sub}/{name}")
                return self._reply(h, 200, {"name": name, "subfolder": sub, "type": kind})
        return self._reply(h, 404, {})

    def _validate(self, prompt: dict) -> dict:
        errors = {}
        for node_id, node in prompt.items():
            if node["class_type"] not in self.info:
                errors[node_id] = {"errors": [{"message": "unknown class", "details": node["class_type"]}],
                                   "class_type": node["class_type"]}
        return errors


def _multipart(content_type: str, body: bytes) -> dict:
    boundary = content_type.split("boundary=", 1)[1].encode()
    fields = {}
    for part in body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        name = re.search(rb'name="([^"]+)"', head).group(1).decode()
        filename = re.search(rb'filename="([^"]+)"', head)
        fields[name] = (filename.group(1).decode() if filename else None, data)
    return fields


# --- tests of the fake itself ---------------------------------------------------------------------

def test_fake_server_writes_videos_with_planned_frame_counts(tmp_path):
    write_video(tmp_path / "a.mkv", 9)
    write_video(tmp_path / "b.mp4", 13)
    assert count_frames(tmp_path / "a.mkv") == 9
    assert count_frames(tmp_path / "b.mp4") == 13


def test_fake_server_object_info_matches_the_contract_outputs():
    info = object_info()
    assert info["SegueTravelGuide"]["output"][5] == "INT"       # trim_start
    assert info["SegueLoadVideo"]["output"][3] == "VIDEO"
    assert "after" in info["SegueStitchFiles"]["input"]["optional"]
