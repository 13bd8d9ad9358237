"""Start a real ComfyUI server for integration tests.

ComfyUI is not a dependency of the pack: the tests use one installed beside it, found through
``SEGUE_COMFYUI_DIR`` (default ``/opt/comfyui``) and its own virtual environment
(``SEGUE_COMFYUI_PYTHON``, default ``<dir>/.venv/bin/python``).  Each server gets a fresh base
directory with this pack (and the test-only nodes) linked into ``custom_nodes/``, a free loopback
port and an in-memory database, so tests never touch the user's ComfyUI folders.

A free port is only free until someone binds it: when ComfyUI cannot bind the port it was given
(another process took it in between) it is started again on a new one, and a server is only
taken as started when ``/system_stats`` answers with *its* command line (not another server that
happens to listen there).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_NODES = Path(__file__).resolve().parent / "comfy_test_nodes"
FAULT_NODES = Path(__file__).resolve().parent / "comfy_fault_nodes"
BIND_FAILED = ("address already in use", "errno 98", "error while attempting to bind")
DEFAULT_COMFYUI_DIR = "/opt/comfyui"


def comfyui_install() -> tuple[Path, Path] | str:
    """``(comfyui_dir, python)`` or the reason why no usable install was found."""
    root = Path(os.environ.get("SEGUE_COMFYUI_DIR", DEFAULT_COMFYUI_DIR))
    if not (root / "main.py").is_file():
        return f"no ComfyUI at {root} (set SEGUE_COMFYUI_DIR to a ComfyUI checkout with its venv)"
    python = Path(os.environ.get("SEGUE_COMFYUI_PYTHON", root / ".venv" / "bin" / "python"))
    if not python.is_file():
        return f"no Python for ComfyUI at {python} (set SEGUE_COMFYUI_PYTHON)"
    return root, python


def comfyui_version(root: Path | None = None) -> tuple[int, ...]:
    """The version of the ComfyUI install under test (``comfyui_version.py``), e.g. ``(0, 27, 0)``:
    tests choose what to run per version (a node core added, a behaviour that changed) instead
    of skipping."""
    if root is None:
        install = comfyui_install()
        if isinstance(install, str):
            raise RuntimeError(install)
        root = install[0]
    text = (Path(root) / "comfyui_version.py").read_text()
    match = re.search(r"""__version__\s*=\s*["']([0-9.]+)""", text)
    if not match:
        raise RuntimeError(f"no __version__ in {root}/comfyui_version.py")
    return tuple(int(part) for part in match.group(1).split("."))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """One ComfyUI process on loopback with its own base directory."""

    def __init__(self, base_dir: Path, port: int | None = None, extra_args: tuple[str, ...] = ()):
        install = comfyui_install()
        if isinstance(install, str):
            raise RuntimeError(install)
        self.root, self.python = install
        self.base = Path(base_dir)
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.log_path = self.base / "server.log"
        for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        for name, target in (("segue", REPO), ("segue_test_nodes", TEST_NODES), ("segue_fault_nodes", FAULT_NODES)):
            link = self.base / "custom_nodes" / name
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def input_dir(self) -> Path:
        return self.base / "input"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    def start(self, timeout: float = 120.0, tries: int = 5) -> "ComfyServer":
        for attempt in range(tries):
            if self._start_once(timeout):
                return self
            # The port was taken between choosing and binding it (or, for a fixed port, the
            # killed predecessor still holds it): try again.
            time.sleep(0.5 * (attempt + 1))
            if not self.fixed_port:
                self.port = free_port()
        raise RuntimeError(f"ComfyUI could not bind a port in {tries} tries:\n{self.log_tail()}")

    def _start_once(self, timeout: float) -> bool:
        """True when started; False when it could not bind its port; raises on other failures."""
        args = [
            str(self.python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-auto-launch", "--database-url", "sqlite:///:memory:",
            "--base-directory", str(self.base), *self.extra_args,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                new_log = self.log_path.read_bytes()[log_start:].decode(errors="replace").lower()
                if any(mark in new_log for mark in BIND_FAILED):
                    self.proc = None
                    return False
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                argv = (self.get("/system_stats", timeout=2).get("system") or {}).get("argv") or []
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                time.sleep(0.3)
                continue
            if str(self.base) in argv:
                return True
            time.sleep(0.3)               # another server answers on this port: ours failed to bind it
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def rss_bytes(self) -> int:
        """Current resident memory of the server process (Linux)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def peak_rss_bytes(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- tiny HTTP client (the pack's own client is tested separately) ---
    def get(self, path: str, timeout: float = 30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def post(self, path: str, body: dict, timeout: float = 30):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                data = r.read()
                return json.loads(data) if data else None
        except urllib.error.HTTPError as e:
            raise AssertionError(f"POST {path} -> {e.code}: {e.read().decode(errors='replace')}") from None

    def queue_prompt(self, prompt: dict) -> str:
        prompt_id = str(uuid.uuid4())
        reply = self.post("/prompt", {"prompt": prompt, "prompt_id": prompt_id, "client_id": "segue-tests"})
        assert not reply.get("node_errors"), reply
        return reply["prompt_id"]

    def ended(self, prompt_id: str, timeout: float = 300, poll_s: float = 0.25) -> dict:
        """History entry of a prompt once it has ended, however it ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                return entry
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(poll_s)
        raise AssertionError(f"prompt {prompt_id} did not finish in {timeout:.0f}s:\n{self.log_tail(30)}")

    def wait(self, prompt_id: str, timeout: float = 300) -> dict:
        """History entry of a finished prompt; fails with the server's error and log if it failed."""
        entry = self.ended(prompt_id, timeout)
        status = entry["status"]
        if status.get("status_str") != "success":
            raise AssertionError(
                f"prompt {prompt_id} failed: {json.dumps(status.get('messages'))[:4000]}\n{self.log_tail(30)}"
            )
        return entry

    def run(self, prompt: dict, timeout: float = 300) -> dict:
        return self.wait(self.queue_prompt(prompt), timeout)

    def output_files(self, entry: dict) -> list[Path]:
        """Every file an executed prompt reported in its history outputs, as local paths (each
        once: a node may list its file under several keys, e.g. ``segue_files`` and ``images``)."""
        files = []
        for ui in entry.get("outputs", {}).values():
            for items in ui.values():
                if not isinstance(items, list):
                    continue
                for item in items:
                    if isinstance(item, dict) and "filename" in item:
                        base = {"output": self.output_dir, "input": self.input_dir,
                                "temp": self.base / "temp"}[item.get("type", "output")]
                        path = base / item.get("subfolder", "") / item["filename"]
                        if path not in files:
                            files.append(path)
        return files

    def copy_to_input(self, path: Path, name: str | None = None) -> str:
        target = self.input_dir / (name or Path(path).name)
        shutil.copyfile(path, target)
        return target.name
