"""A call run on a thread while a test disturbs it (kills a server, silences a proxy)."""

from __future__ import annotations

import threading
from typing import Callable


def run_in_background(fn: Callable[[], object]) -> tuple[threading.Thread, dict]:
    """Start ``fn`` on a thread; the returned dict gets ``"error"`` if it raised (inspected by the
    test after ``join``)."""
    outcome: dict = {}

    def go():
        try:
            fn()
        except Exception as e:                  # noqa: BLE001 - inspected by the test
            outcome["error"] = e

    thread = threading.Thread(target=go)
    thread.start()
    return thread, outcome
