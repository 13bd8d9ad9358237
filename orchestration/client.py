"""HTTP + websocket client for one ComfyUI server (standard library only).

What it relies on (spec comfyui-engine.md §2-§4): ``POST /prompt`` with our own ``prompt_id`` and
``client_id`` (a 400, or a 200 with non-empty ``node_errors``, is a rejection); ``GET /queue`` and
``GET /history/{id}`` (``{}`` until the prompt finished; everything is lost on a restart);
``POST /queue {"delete"}`` for our pending prompts and ``POST /interrupt {"prompt_id"}`` for our
running one (checked first, because servers before 0.3.57 ignore the id and interrupt whatever
runs); ``POST /upload/image`` (any file type, into input/ or output/, ``overwrite``; aiohttp
refuses bodies over ``--max-upload-size``, 100 MB by default); ``GET /view`` (also ``HEAD``) for
downloads; ``/ws?clientId=`` for events.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

from .errors import OrchestrationError, PromptRejected, ServerUnreachable, UploadRejected
from .websocket import WebSocket

DEFAULT_UPLOAD_LIMIT_MB = 100
CHUNK = 1 << 20


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not a server URL: write it like http://127.0.0.1:8188")
    return url


class ComfyClient:
    """One server.  Every network failure becomes ``ServerUnreachable`` naming the server."""

    def __init__(self, url: str, client_id: str | None = None, timeout: float = 30.0):
        self.url = normalize_url(url)
        self.client_id = client_id or f"segue-{uuid.uuid4().hex[:12]}"
        self.timeout = timeout
        self._object_info: dict | None = None

    def __repr__(self) -> str:
        return f"ComfyClient({self.url!r})"

    @property
    def label(self) -> str:
        return self.url.split("://", 1)[1]

    # --- raw HTTP ---
    def _open(self, method: str, path: str, data: Any = None, headers: dict | None = None,
              timeout: float | None = None):
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerUnreachable(f"ComfyUI server {self.url} is unreachable ({reason}): "
                                    f"start it or check --server") from None

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> tuple[int, bytes]:
        """``(status, body)``; HTTP error statuses are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            with self._open(method, path, data, headers, timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        status, data = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise OrchestrationError(f"GET {self.url}{path} answered {status}: {data[:300].decode(errors='replace')}")
        return json.loads(data or b"null")

    def post_json(self, path: str, body: Any, timeout: float | None = None) -> tuple[int, Any]:
        status, data = self.request("POST", path, body, timeout)
        try:
            return status, json.loads(data) if data else None
        except json.JSONDecodeError:
            return status, data.decode(errors="replace")

    # --- information ---
    def system_stats(self) -> dict:
        return self.get_json("/system_stats", timeout=min(self.timeout, 10))

    def object_info(self, refresh: bool = False) -> dict:
        if self._object_info is None or refresh:
            self._object_info = self.get_json("/object_info", timeout=max(self.timeout, 60))
        return self._object_info

    def queue(self) -> tuple[list[str], list[str]]:
        """``(running prompt ids, pending prompt ids)``."""
        q = self.get_json("/queue")
        return ([item[1] for item in q.get("queue_running", [])],
                [item[1] for item in q.get("queue_pending", [])])

    def queue_remaining(self) -> int:
        data = self.get_json("/prompt")
        return int(data.get("exec_info", {}).get("queue_remaining", 0))

    def history(self, prompt_id: str) -> dict | None:
        """The finished prompt's history entry, or ``None`` (not finished, or unknown to the server)."""
        return self.get_json(f"/history/{urllib.parse.quote(prompt_id)}").get(prompt_id)

    def prompt_status(self, prompt_id: str) -> tuple[str, dict | None]:
        """``queued`` / ``running`` / ``success`` / ``error`` / ``interrupted`` / ``unknown``, and the history entry.

        ``unknown`` = neither queued nor in history: the server restarted (or never got it).
        The queue is read before the history, so a prompt finishing in between is still found.
        """
        running, pending = self.queue()
        if prompt_id in running:
            return "running", None
        if prompt_id in pending:
            return "queued", None
        entry = self.history(prompt_id)
        if entry is None:
            return "unknown", None
        return history_outcome(entry), entry

    # --- prompts ---
    def submit(self, prompt: dict, prompt_id: str | None = None, extra_data: dict | None = None) -> str:
        prompt_id = prompt_id or str(uuid.uuid4())
        body = {"prompt": prompt, "prompt_id": prompt_id, "client_id": self.client_id}
        if extra_data:
            body["extra_data"] = extra_data
        status, reply = self.post_json("/prompt", body)
        if not isinstance(reply, dict):
            raise OrchestrationError(f"{self.url}/prompt answered {status}: {str(reply)[:300]}")
        errors = format_node_errors(reply.get("node_errors") or {}, prompt)
        if status != 200 or errors:
            err = reply.get("error") or {}
            head = err.get("message", "prompt rejected") if isinstance(err, dict) else str(err)
            details = err.get("details") if isinstance(err, dict) else ""
            lines = errors or ([details] if details else [])
            raise PromptRejected(f"{self.label} rejected the prompt: {head}" +
                                 ("".join(f"\n  {line}" for line in lines)), lines)
        # Servers before 0.3.45 ignore our id and make their own.
        return str(reply.get("prompt_id", prompt_id))

    def delete_pending(self, prompt_ids: list[str]) -> None:
        if prompt_ids:
            self.post_json("/queue", {"delete": list(prompt_ids)})

    def interrupt(self, prompt_id: str) -> bool:
        """Interrupt ``prompt_id`` only if it is the one running now (never someone else's)."""
        running, _ = self.queue()
        if prompt_id not in running:
            return False
        self.post_json("/interrupt", {"prompt_id": prompt_id})
        return True

    def cancel(self, prompt_id: str) -> str:
        """Remove a pending prompt or interrupt a running one; returns what was done."""
        running, pending = self.queue()
        if prompt_id in pending:
            self.delete_pending([prompt_id])
            return "removed from the queue"
        if prompt_id in running:
            self.post_json("/interrupt", {"prompt_id": prompt_id})
            return "interrupted"
        return "not queued"

    # --- files ---
    def upload(self, path: str | os.PathLike, name: str, subfolder: str, kind: str = "input") -> str:
        """Upload a local file as ``<kind>/<subfolder>/<name>`` (overwriting); returns the annotated name."""
        path = Path(path)
        size = path.stat().st_size
        boundary = f"segue{uuid.uuid4().hex}"
        head = b""
        for field, value in (("type", kind), ("subfolder", subfolder), ("overwrite", "true")):
            head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").encode()
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
            yield tail

        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Content-Length": str(len(head) + size + len(tail))}
        too_big = (f"{path} ({size / 1e6:.0f} MB) is too large for {self.label}'s upload limit "
                   f"(ComfyUI's default is {DEFAULT_UPLOAD_LIMIT_MB} MB): start the server with "
                   f"--max-upload-size N (MB) or copy the file into its input/{subfolder}/ folder")
        try:
            with self._open("POST", "/upload/image", body(), headers, timeout=max(self.timeout, 300)) as r:
                reply = json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 413:
                raise UploadRejected(too_big) from None
            raise UploadRejected(f"{self.label} refused the upload of {path} ({e.code}): "
                                 f"{e.read()[:200].decode(errors='replace')}") from None
        except ServerUnreachable:
            if size > DEFAULT_UPLOAD_LIMIT_MB * 1024 * 1024:
                # aiohttp may drop the connection instead of answering 413 on a large body.
                raise UploadRejected(too_big) from None
            raise
        sub = reply.get("subfolder") or ""
        return f"{sub}/{reply['name']} [{reply.get('type', kind)}]" if sub else f"{reply['name']} [{reply.get('type', kind)}]"

    def file_size(self, filename: str, subfolder: str, kind: str = "output") -> int | None:
        """Size of a file on the server (``HEAD /view``), ``None`` if it is not there."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        try:
            with self._open("HEAD", f"/view?{query}") as r:
                return int(r.headers.get("Content-Length", -1))
        except urllib.error.HTTPError:
            return None

    def download(self, filename: str, subfolder: str, dest: str | os.PathLike, kind: str = "output") -> str:
        """Stream a server file into ``dest`` (temp file + ``os.replace``); returns its sha256."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        digest = hashlib.sha256()
        try:
            with self._open("GET", f"/view?{query}", timeout=max(self.timeout, 300)) as r, open(tmp, "wb") as f:
                while chunk := r.read(CHUNK):
                    digest.update(chunk)
                    f.write(chunk)
        except urllib.error.HTTPError as e:
            tmp.unlink(missing_ok=True)
            raise OrchestrationError(f"{self.label} has no {kind}/{subfolder}/{filename} ({e.code})") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, dest)
        return digest.hexdigest()

    # --- events ---
    def websocket(self, timeout: float = 10.0) -> WebSocket:
        scheme = "wss" if self.url.startswith("https") else "ws"
        host = self.url.split("://", 1)[1]
        try:
            return WebSocket(f"{scheme}://{host}/ws?clientId={urllib.parse.quote(self.client_id)}", timeout=timeout)
        except OSError as e:
            raise ServerUnreachable(f"ComfyUI server {self.url} websocket is unreachable ({e})") from None


def history_outcome(entry: dict) -> str:
    """``success`` / ``error`` / ``interrupted`` from a history entry's status messages."""
    status = entry.get("status") or {}
    if status.get("status_str") == "success":
        return "success"
    for event, _ in status.get("messages", []):
        if event == "execution_interrupted":
            return "interrupted"
    return "error"


def history_error(entry: dict) -> str:
    """The execution error of a failed prompt, one line: node, class, exception."""
    for event, data in (entry.get("status") or {}).get("messages", []):
        if event == "execution_error":
            return (f"node {data.get('node_id')} ({data.get('node_type')}): "
                    f"{data.get('exception_type', 'error')}: {str(data.get('exception_message', '')).strip()}")
        if event == "execution_interrupted":
            return f"interrupted at node {data.get('node_id')} ({data.get('node_type')})"
    return "failed without an error message"


def format_node_errors(node_errors: dict, prompt: dict | None = None) -> list[str]:
    """One line per node error: ``node ID (Class, "title"): message: details``."""
    lines = []
    for node_id, entry in node_errors.items():
        cls = entry.get("class_type", "?")
        title = ((prompt or {}).get(node_id, {}).get("_meta") or {}).get("title")
        label = f"node {node_id} ({cls}{', ' + repr(title) if title else ''})"
        for err in entry.get("errors", []):
            message, details = err.get("message", ""), err.get("details", "")
            lines.append(f"{label}: {message}" + (f": {details}" if details else ""))
    return lines


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
