"""HTTP + websocket client for one ComfyUI server.

What it relies on (spec comfyui-engine.md §2-§4): ``POST /prompt`` with our own ``prompt_id`` and
``client_id`` (a 400, or a 200 with non-empty ``node_errors``, is a rejection); ``GET /queue`` and
``GET /history/{id}`` (``{}`` until the prompt finished; everything is lost on a restart);
``POST /queue {"delete"}`` for our pending prompts and ``POST /interrupt {"prompt_id"}`` for our
running one (checked first, because servers before 0.3.57 ignore the id and interrupt whatever
runs); ``/ws?clientId=`` for events (the ``websocket-client`` package).  Uploads and downloads
(``POST /upload/image``, ``GET``/``HEAD /view``) are ``client_files.ServerFiles``.

Where the server has them (ComfyUI 0.27 and later; asked once per server, ``has_jobs_api``),
``GET /api/jobs/{id}`` answers a prompt's state in one reply (pending / in_progress / completed /
failed / cancelled, with its history) instead of ``/queue`` then ``/history``, which a prompt can
slip between, and ``POST /api/jobs/{id}/cancel`` dequeues or interrupts it in one step that never
lands on another prompt.  Older servers get the routes above.

Transient failures (HTTP 502/503/504, connection refused or reset) are retried a few times with
jittered exponential backoff, honouring ``Retry-After``.  ``POST /prompt`` is not idempotent, so
after an ambiguous failure (reset, timeout, 5xx: the server may have queued it) the client asks
``/queue`` and ``/history`` about its own ``prompt_id`` before sending it again.  A server that
accepts connections but does not answer within the timeout raises ``ServerNotAnswering``.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable

import websocket

from ..errors import PromptRejected, ServerError, ServerNotAnswering, ServerUnreachable
from .client_files import ServerFiles
from .records import format_node_errors, history_outcome, strip_server_paths
from .retry import MAYBE_SENT, NOT_SENT, RETRY_STATUSES, MaybeDelivered, RetryPolicy, failure_reason


# /api/jobs states of prompts still in the queue -> prompt_status's words.
_LIVE_JOB_STATES = {"pending": "queued", "in_progress": "running"}


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not a server URL: write it like http://127.0.0.1:8188")
    return url


class ComfyClient(ServerFiles):
    """One server.  Every network failure becomes ``ServerUnreachable`` (or a subclass) naming it."""

    def __init__(self, url: str, client_id: str | None = None, timeout: float = 30.0,
                 retry: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep):
        self.url = normalize_url(url)
        self.client_id = client_id or f"segue-{uuid.uuid4().hex[:12]}"
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep
        self.retries_done = 0          # transient failures absorbed so far (tests and logs read it)
        self._object_info: dict | None = None
        self._jobs_api: bool | None = None

    def __repr__(self) -> str:
        return f"ComfyClient({self.url!r})"

    @property
    def label(self) -> str:
        return self.url.split("://", 1)[1]

    # --- raw HTTP ---
    def _open(self, method: str, path: str, data: Any = None, headers: dict | None = None,
              timeout: float | None = None, idempotent: bool = True):
        """An open response.  HTTP error statuses raise ``urllib.error.HTTPError`` once retries
        (only for idempotent requests, only 502/503/504) are spent; ``data`` may be a callable that
        makes a fresh body for each try (a streamed upload)."""
        timeout = timeout or self.timeout
        for attempt in range(self.retry.attempts):
            last = attempt + 1 >= self.retry.attempts
            body = data() if callable(data) else data
            req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
            try:
                return urllib.request.urlopen(req, timeout=timeout)
            except urllib.error.HTTPError as e:
                if e.code not in RETRY_STATUSES:
                    raise
                if not idempotent:
                    e.close()
                    raise MaybeDelivered(f"HTTP {e.code}", e.headers.get("Retry-After")) from None
                if last:
                    raise
                wait = self.retry.delay(attempt, e.headers.get("Retry-After"))
                e.close()
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                if isinstance(reason, TimeoutError):
                    if not idempotent:
                        raise MaybeDelivered(f"no answer within {timeout:.0f}s") from None
                    raise self._not_answering(method, path, timeout) from None
                transient = isinstance(reason, NOT_SENT) or (idempotent and isinstance(reason, MAYBE_SENT))
                if not idempotent and isinstance(reason, MAYBE_SENT):
                    raise MaybeDelivered(failure_reason(reason)) from None
                if not transient or last:
                    raise self._unreachable(reason) from None
                wait = self.retry.delay(attempt)
            self.retries_done += 1
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _unreachable(self, reason: Any) -> ServerUnreachable:
        return ServerUnreachable(f"ComfyUI server {self.url} is unreachable ({failure_reason(reason)})")

    def _not_answering(self, method: str, path: str, timeout: float) -> ServerNotAnswering:
        return ServerNotAnswering(f"ComfyUI server {self.url} did not answer {method} {path.split('?')[0]} "
                                  f"within {timeout:.0f}s")

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None,
                idempotent: bool = True) -> tuple[int, bytes]:
        """``(status, body)``; HTTP error statuses are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(self.retry.attempts):
            try:
                with self._open(method, path, data, headers, timeout, idempotent) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                with e:
                    return e.code, e.read()
            except (OSError, http.client.HTTPException) as e:     # the answer broke off
                if not idempotent:
                    raise MaybeDelivered(failure_reason(e)) from None
                if isinstance(e, TimeoutError):
                    raise self._not_answering(method, path, timeout or self.timeout) from None
                if attempt + 1 >= self.retry.attempts:
                    raise self._unreachable(e) from None
                self.retries_done += 1
                self.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        status, data = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise ServerError(f"GET {self.url}{path.split('?')[0]} answered {status}: "
                              f"{data[:200].decode(errors='replace')}")
        try:
            return json.loads(data or b"null")
        except json.JSONDecodeError:
            raise ServerError(f"{self.url}{path.split('?')[0]} did not answer JSON: is this a ComfyUI server?") from None

    def post_json(self, path: str, body: Any, timeout: float | None = None,
                  idempotent: bool = True) -> tuple[int, Any]:
        status, data = self.request("POST", path, body, timeout, idempotent)
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

    def has_jobs_api(self) -> bool:
        """Whether the server answers ``/api/jobs`` (ComfyUI 0.27 and later); asked once per server."""
        if self._jobs_api is None:
            status, data = self.request("GET", "/api/jobs?limit=1")
            try:
                reply = json.loads(data) if status == 200 else None
            except json.JSONDecodeError:
                reply = None
            self._jobs_api = isinstance(reply, dict) and isinstance(reply.get("jobs"), list)
        return self._jobs_api

    def prompt_status(self, prompt_id: str) -> tuple[str, dict | None]:
        """``queued`` / ``running`` / ``success`` / ``error`` / ``interrupted`` / ``unknown``, and the history entry.

        ``unknown`` = neither queued nor in history: the server restarted (or never got it).
        With the jobs API it is one answer; otherwise the queue is read before the history, so a
        prompt finishing in between is still found.
        """
        if self.has_jobs_api():
            return self._job_status(prompt_id)
        running, pending = self.queue()
        if prompt_id in running:
            return "running", None
        if prompt_id in pending:
            return "queued", None
        entry = self.history(prompt_id)
        if entry is None:
            return "unknown", None
        return history_outcome(entry), entry

    def _job_status(self, prompt_id: str) -> tuple[str, dict | None]:
        path = f"/api/jobs/{urllib.parse.quote(prompt_id)}"
        status, data = self.request("GET", path)
        if status == 404:
            return "unknown", None
        if status != 200:
            raise ServerError(f"GET {self.url}{path} answered {status}: {data[:200].decode(errors='replace')}")
        job = json.loads(data)
        state = job.get("status")
        if state in _LIVE_JOB_STATES:
            return _LIVE_JOB_STATES[state], None
        # completed / failed / cancelled: the job carries its history entry's status and outputs
        entry = {"status": job.get("execution_status") or {}, "outputs": job.get("outputs") or {}}
        return history_outcome(entry), entry

    # --- prompts ---
    def submit(self, prompt: dict, prompt_id: str | None = None, extra_data: dict | None = None) -> str:
        """Queue ``prompt`` under ``prompt_id``, at most once: after a failure that leaves open
        whether the server got it, its queue and history are asked before sending it again."""
        prompt_id = prompt_id or str(uuid.uuid4())
        body = {"prompt": prompt, "prompt_id": prompt_id, "client_id": self.client_id}
        if extra_data:
            body["extra_data"] = extra_data
        for attempt in range(self.retry.attempts):
            try:
                status, reply = self.post_json("/prompt", body, idempotent=False)
                break
            except MaybeDelivered as e:
                if attempt + 1 >= self.retry.attempts:
                    raise ServerError(f"{self.label} did not take the prompt ({e.reason}) after "
                                      f"{self.retry.attempts} tries") from None
                self.retries_done += 1
                self.sleep(self.retry.delay(attempt, e.retry_after))
                if self.prompt_status(prompt_id)[0] != "unknown":
                    return prompt_id          # it did arrive: never queue it twice
        if not isinstance(reply, dict):
            raise ServerError(f"{self.url}/prompt answered {status}: {str(reply)[:200]}")
        errors = format_node_errors(reply.get("node_errors") or {}, prompt)
        if status != 200 or errors:
            err = reply.get("error") or {}
            head = err.get("message", "prompt rejected") if isinstance(err, dict) else str(err)
            details = err.get("details") if isinstance(err, dict) else ""
            lines = errors or ([strip_server_paths(details)] if details else [])
            raise PromptRejected(f"{self.label} rejected the prompt: {head}" +
                                 "".join(f"\n  {line}" for line in lines), lines)
        # Servers before 0.3.45 ignore our id and make their own.
        return str(reply.get("prompt_id", prompt_id))

    def delete_pending(self, prompt_ids: list[str]) -> None:
        if prompt_ids:
            self.post_json("/queue", {"delete": list(prompt_ids)})

    def interrupt(self, prompt_id: str) -> bool:
        """Interrupt ``prompt_id`` only if it is the one running now (never someone else's)."""
        if self.has_jobs_api():
            if self._job_status(prompt_id)[0] != "running":
                return False
            return self._cancel_job(prompt_id)
        running, _ = self.queue()
        if prompt_id not in running:
            return False
        self.post_json("/interrupt", {"prompt_id": prompt_id})
        return True

    def cancel(self, prompt_id: str) -> str:
        """Remove a pending prompt or interrupt a running one; returns what was done."""
        if self.has_jobs_api():
            state = self._job_status(prompt_id)[0]
            if state not in ("queued", "running") or not self._cancel_job(prompt_id):
                return "not queued"
            return "removed from the queue" if state == "queued" else "interrupted"
        running, pending = self.queue()
        if prompt_id in pending:
            self.delete_pending([prompt_id])
            return "removed from the queue"
        if prompt_id in running:
            self.post_json("/interrupt", {"prompt_id": prompt_id})
            return "interrupted"
        return "not queued"

    def _cancel_job(self, prompt_id: str) -> bool:
        """``POST /api/jobs/{id}/cancel``: the server dequeues or interrupts that prompt, atomically."""
        status, reply = self.post_json(f"/api/jobs/{urllib.parse.quote(prompt_id)}/cancel", {})
        if status != 200 or not isinstance(reply, dict):
            raise ServerError(f"{self.url}/api/jobs/{prompt_id}/cancel answered {status}: {str(reply)[:200]}")
        return bool(reply.get("cancelled"))

    # --- events ---
    def websocket(self, timeout: float = 10.0) -> "EventStream":
        scheme = "wss" if self.url.startswith("https") else "ws"
        host = self.url.split("://", 1)[1]
        url = f"{scheme}://{host}/ws?clientId={urllib.parse.quote(self.client_id)}"
        try:
            return EventStream(websocket.create_connection(url, timeout=timeout, suppress_origin=True))
        except (websocket.WebSocketException, OSError) as e:
            raise ServerUnreachable(f"ComfyUI server {self.url} websocket is unreachable ({failure_reason(e)})") from None


class EventStream:
    """A connected ``/ws``: ``recv(timeout)`` is the next message (``str`` JSON, or ``bytes`` for
    preview images), ``None`` after ``timeout`` s of silence; ``EventsClosed`` when it ends."""

    def __init__(self, ws: websocket.WebSocket):
        self.ws = ws

    def recv(self, timeout: float) -> str | bytes | None:
        self.ws.settimeout(timeout)
        try:
            return self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError) as e:
            raise EventsClosed(failure_reason(e)) from None

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except (websocket.WebSocketException, OSError):
            pass


class EventsClosed(Exception):
    """The websocket connection ended (server stopped, network dropped, closed by the server)."""
