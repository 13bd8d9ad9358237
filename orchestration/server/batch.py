"""Several runs as one queue over the same servers (``segue run A.json B.json``, a folder, a JSONL).

Each run keeps its own run directory, manifest, lock and resume: a batch is only a way of
driving their runners together, in one thread, so independent work of later runs fills servers
an earlier run leaves idle (a chained travel uses one server at a time).  Runs are served in the
order given: every round, run 0 submits what it has ready first, then run 1, ... while the
servers' windows have room; ``window`` counts the prompts of the whole batch on a server.

A run that fails does not stop the others (its manifest says what failed; ``segue resume`` or
running the batch again continues it); Ctrl-C cancels every run's prompts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from ..errors import OrchestrationError
from .runner import Runner

ROUND_PAUSE_S = 0.02


def shared_load(runners: Sequence[Runner]):
    """Our prompts on a server, all runs of the batch together (what ``window`` bounds)."""
    return lambda url: sum(len(r.in_flight(url)) for r in runners)


def drive(runners: Sequence[Runner]) -> dict[str, Path | OrchestrationError]:
    """Run every runner to its end; returns run id -> the final video, or the error that stopped it."""
    outcome: dict[str, Path | OrchestrationError] = {}
    active = list(runners)
    started: list[Runner] = []
    try:
        for runner in runners:
            runner.start()
            started.append(runner)
        while active:
            for runner in list(active):
                try:
                    if runner.finished():
                        outcome[runner.manifest.run_id] = runner.complete()
                    else:
                        runner.tick(0)
                        continue
                except OrchestrationError as e:
                    runner.manifest.set_status("failed")
                    outcome[runner.manifest.run_id] = e
                runner.close()
                active.remove(runner)
            if active:
                time.sleep(ROUND_PAUSE_S)
    except KeyboardInterrupt:
        for runner in active:
            if runner in started:
                runner.interrupt()
            runner.close()
        raise
    except BaseException:
        for runner in active:
            runner.close()
        raise
    return outcome
