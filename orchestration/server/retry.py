"""When and how long to retry a request to a ComfyUI server.

Transient failures (HTTP 502/503/504 from the server or a proxy in front of it, a refused or reset
connection) are retried a bounded number of times with "full jitter" exponential backoff, so
several clients that lost one server do not come back in step; a server's ``Retry-After`` (delta
seconds or an HTTP date) is honoured, up to a cap.  Whether a failed request may be *sent again*
depends on whether it may already have arrived: a refused connection never did, a reset or a 5xx
may have, which only idempotent requests can ignore (``POST /prompt`` asks the server first).
"""

from __future__ import annotations

import email.utils
import http.client
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

RETRY_STATUSES = frozenset({502, 503, 504})
# Failures where the request surely never reached the server (safe to send again) ...
NOT_SENT = (ConnectionRefusedError,)
# ... and where it may have (safe only for idempotent requests).
MAYBE_SENT = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.BadStatusLine,
              http.client.IncompleteRead)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits are "full jitter" (uniform in [0, base * 2^n], capped)."""

    attempts: int = 4
    base_s: float = 0.5
    max_s: float = 8.0
    max_retry_after_s: float = 60.0     # a server asking for longer is not waited for that long

    def delay(self, attempt: int, retry_after: str | None = None, rng: Callable[[], float] = random.random) -> float:
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return min(asked, self.max_retry_after_s)
        return rng() * min(self.max_s, self.base_s * 2 ** attempt)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class MaybeDelivered(Exception):
    """A non-idempotent request failed in a way that leaves open whether the server got it."""

    def __init__(self, reason: str, retry_after: str | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def failure_reason(error: Any) -> str:
    """A network failure in words: ``Connection refused``, ``RemoteDisconnected: ...``."""
    if isinstance(error, str):
        return error
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
