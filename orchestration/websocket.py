"""A minimal RFC 6455 websocket client (standard library only), enough for ComfyUI's ``/ws``.

ComfyUI sends JSON text messages and binary preview frames and expects nothing back but pongs
and a close.  This client does the opening handshake (with ``Sec-WebSocket-Accept`` check),
masks its own frames, reassembles fragmented messages, answers pings and closes cleanly.
``recv(timeout)`` returns ``None`` when nothing arrived in time, so a caller can watch for
silence and stop flags without threads blocking forever.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import ssl
import struct
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 256 * 1024 * 1024


class WebSocketError(OSError):
    """Handshake refused, protocol error, or the connection closed."""


class WebSocket:
    def __init__(self, url: str, timeout: float = 10.0, frame_timeout: float = 60.0):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"not a websocket URL: {url}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "wss" else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.frame_timeout = frame_timeout
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if parts.scheme == "wss":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        self._buf = bytearray()
        self.closed = False
        try:
            self._handshake(timeout)
        except BaseException:
            self.sock.close()
            raise

    # --- opening handshake ---
    def _handshake(self, timeout: float) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        host = self.host if self.port in (80, 443) else f"{self.host}:{self.port}"
        request = (f"GET {self.path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.settimeout(timeout)
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WebSocketError("connection closed during the websocket handshake")
            self._buf += chunk
            if len(self._buf) > 65536:
                raise WebSocketError("websocket handshake response too large")
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        self._buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WebSocketError(f"websocket handshake refused: {lines[0]}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise WebSocketError("websocket handshake: bad Sec-WebSocket-Accept")

    # --- frames ---
    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                self.closed = True
                raise WebSocketError("websocket connection closed by the server")
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._read_exact(2)
        fin, opcode, masked, length = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exact(8))[0]
        if length > MAX_MESSAGE:
            raise WebSocketError(f"websocket frame of {length} bytes is too large")
        mask = self._read_exact(4) if masked else None
        payload = self._read_exact(length)
        if mask:
            payload = _apply_mask(payload, mask)
        return fin, opcode, payload

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + _apply_mask(payload, mask))

    # --- public ---
    def recv(self, timeout: float | None = None) -> str | bytes | None:
        """Next whole message (``str`` text, ``bytes`` binary), or ``None`` after ``timeout`` s of silence."""
        if self.closed:
            raise WebSocketError("websocket is closed")
        if timeout is not None and not self._buf:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return None
        self.sock.settimeout(self.frame_timeout)
        parts: list[bytes] = []
        message_op = None
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                try:
                    self._send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                self.closed = True
                raise WebSocketError("websocket closed by the server")
            if opcode in (OP_TEXT, OP_BINARY):
                message_op, parts = opcode, [payload]
            elif opcode == OP_CONT and message_op is not None:
                parts.append(payload)
            else:
                raise WebSocketError(f"unexpected websocket opcode {opcode}")
            if sum(map(len, parts)) > MAX_MESSAGE:
                raise WebSocketError("websocket message too large")
            if fin:
                data = b"".join(parts)
                return data.decode("utf-8") if message_op == OP_TEXT else data

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def close(self) -> None:
        if not self.closed:
            try:
                self._send_frame(OP_CLOSE, struct.pack("!H", 1000))
            except OSError:
                pass
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


def _apply_mask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")
