"""Files through one ComfyUI server, for ``ComfyClient``: streamed multipart uploads
(``POST /upload/image``: any file type, into input/ or output/, ``overwrite``; aiohttp refuses
bodies over ``--max-upload-size``, 100 MB by default), sizes (``HEAD /view``) and downloads
(``GET /view``) written atomically with their sha256, retried from the start when the
connection breaks off mid-file.

Apart from the requests (``client``) because files have their own failure modes: a body too
large for the server, a download cut short, a local disk that fills up (an ``OSError``, never
mistaken for the network's).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.parse
import uuid
from pathlib import Path
from typing import Iterator

from ...video_utils.core.atomic import atomic_path
from ..errors import ServerError, ServerUnreachable, UploadRejected
from .retry import RETRY_STATUSES

DEFAULT_UPLOAD_LIMIT_MB = 100
CHUNK = 1 << 20


class ServerFiles:
    """Uploads and downloads of ``ComfyClient`` (a mixin: it uses the client's ``_open``, retry
    policy and labels)."""

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
                   f"(ComfyUI's default is {DEFAULT_UPLOAD_LIMIT_MB} MB)")
        big_hint = f"start the server with --max-upload-size N (MB) or copy the file into its input/{subfolder}/ folder"
        try:
            with self._open("POST", "/upload/image", body, headers, timeout=self.timeout) as r:
                reply = json.loads(r.read())
        except urllib.error.HTTPError as e:
            with e:
                if e.code == 413:
                    raise UploadRejected(too_big, hint=big_hint) from None
                raise UploadRejected(f"{self.label} refused the upload of {path} ({e.code}): "
                                     f"{e.read()[:200].decode(errors='replace')}") from None
        except ServerUnreachable:
            if size > DEFAULT_UPLOAD_LIMIT_MB * 1024 * 1024:
                # aiohttp may drop the connection instead of answering 413 on a large body.
                raise UploadRejected(too_big, hint=big_hint) from None
            raise
        sub = reply.get("subfolder") or ""
        return f"{sub}/{reply['name']} [{reply.get('type', kind)}]" if sub else f"{reply['name']} [{reply.get('type', kind)}]"

    def file_size(self, filename: str, subfolder: str, kind: str = "output") -> int | None:
        """Size of a file on the server (``HEAD /view``), ``None`` if it is not there."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        try:
            with self._open("HEAD", f"/view?{query}") as r:
                return int(r.headers.get("Content-Length", -1))
        except urllib.error.HTTPError as e:
            e.close()
            if e.code in RETRY_STATUSES:
                raise ServerError(f"{self.label} answered {e.code} to HEAD /view") from None
            return None

    def download(self, filename: str, subfolder: str, dest: str | os.PathLike, kind: str = "output") -> str:
        """Stream a server file into ``dest`` (atomically: ``dest`` is complete or untouched); returns its sha256.

        ``FileNotFoundError`` when the server does not have the file; a connection broken off
        mid-file is retried from the start; a local write error (disk full) propagates as ``OSError``.
        """
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        for attempt in range(self.retry.attempts):
            digest = hashlib.sha256()
            try:
                with atomic_path(dest) as tmp, \
                        self._open("GET", f"/view?{query}", timeout=self.timeout) as r, open(tmp, "wb") as f:
                    expected, size = r.headers.get("Content-Length"), 0
                    while chunk := _read(r):
                        digest.update(chunk)
                        f.write(chunk)
                        size += len(chunk)
                    if expected is not None and size != int(expected):
                        raise _BrokenOff(f"got {size} of {expected} bytes")
                return digest.hexdigest()
            except urllib.error.HTTPError as e:
                e.close()
                if e.code in RETRY_STATUSES:
                    raise ServerError(f"{self.label} answered {e.code} to GET /view of {filename}") from None
                raise FileNotFoundError(f"{self.label} has no {kind}/{subfolder}/{filename} (HTTP {e.code})") from None
            except _BrokenOff as e:
                if attempt + 1 >= self.retry.attempts:
                    raise self._unreachable(e.reason) from None
                self.retries_done += 1
                self.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


class _BrokenOff(Exception):
    def __init__(self, reason: BaseException | str):
        super().__init__(str(reason))
        self.reason = reason


def _read(response) -> bytes:
    """The next chunk of a download; a connection that breaks off mid-file is ``_BrokenOff``
    (retried), while local write errors stay ``OSError`` (they are not the network's)."""
    try:
        return response.read(CHUNK)
    except (OSError, http.client.HTTPException) as e:
        raise _BrokenOff(e) from None


