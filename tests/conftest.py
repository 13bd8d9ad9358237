"""Shared fixtures. Integration tests against a real ComfyUI are marked ``comfyui`` (and
``frontend`` when they drive its real frontend in Chromium).

Where the ComfyUI comes from (tests/comfyui_harness.py starts the servers):

* ``SEGUE_COMFYUI_DIR`` (+ ``SEGUE_COMFYUI_PYTHON``): an existing install wins;
* ``SEGUE_COMFYUI_SOURCE``: a tarball, folder or git URL@tag that ``scripts/comfyui-for-tests.sh``
  provisions into a cache outside the clone (``scripts/run-tests.sh`` does it before pytest so
  its progress shows; when pytest is started directly it happens here, once per session);
* otherwise ``/opt/comfyui`` if present.

When a ComfyUI was asked for (either variable set), an integration test that cannot run for want
of ComfyUI, Chromium or Playwright FAILS with the reason instead of skipping: a skip must not
hide a broken install step.  With neither set, such tests skip with the reason.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# The Ctrl-C tests interrupt the main thread (``_thread.interrupt_main``), which does nothing
# while SIGINT is ignored, as it is in a job started with ``&`` by a non-interactive shell (some
# CI runners, ``nohup``): give SIGINT Python's own handler back so those tests test something.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ only, for comfyui_harness

from comfyui_harness import ComfyServer, comfyui_install  # noqa: E402
from integration import integration_required, unavailable  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
INTEGRATION_MARKERS = ("comfyui", "frontend")
_skipped_integration: list[str] = []


def _provision() -> None:
    """Run scripts/comfyui-for-tests.sh for SEGUE_COMFYUI_SOURCE and export what it prints."""
    if not os.environ.get("SEGUE_COMFYUI_SOURCE") or os.environ.get("SEGUE_COMFYUI_DIR"):
        return
    done = subprocess.run(["bash", str(REPO / "scripts" / "comfyui-for-tests.sh")], capture_output=True, text=True)
    if done.returncode != 0:
        os.environ["SEGUE_COMFYUI_PROVISION_ERROR"] = done.stderr.strip()[-2000:]
        return
    for line in done.stdout.splitlines():
        name, _, value = line.partition("=")
        if name.startswith("SEGUE_COMFYUI_") and value:
            os.environ[name] = shlex.split(value)[0]


def pytest_configure(config):
    _provision()


@pytest.fixture(scope="session")
def comfyui_available():
    error = os.environ.get("SEGUE_COMFYUI_PROVISION_ERROR")
    if error:
        unavailable(f"provisioning ComfyUI from SEGUE_COMFYUI_SOURCE failed:\n{error}")
    install = comfyui_install()
    if isinstance(install, str):
        unavailable(install)
    return install


@pytest.fixture(scope="session")
def comfy_server(comfyui_available, tmp_path_factory):
    """One shared server for the session (start-up costs ~12 s)."""
    server = ComfyServer(tmp_path_factory.mktemp("comfy_base")).start()
    yield server
    server.stop()


def pytest_runtest_logreport(report):
    if report.skipped and any(m in report.keywords for m in INTEGRATION_MARKERS):
        _skipped_integration.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Safety net: with a ComfyUI asked for, no integration test may end skipped."""
    if integration_required() and _skipped_integration and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if integration_required() and _skipped_integration:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped_integration)} integration test(s) skipped although a ComfyUI was asked for "
            f"(SEGUE_COMFYUI_SOURCE/SEGUE_COMFYUI_DIR): {', '.join(_skipped_integration[:10])}", red=True)
    elif _skipped_integration:
        terminalreporter.write_line(
            f"note: {len(_skipped_integration)} integration test(s) did not run (no ComfyUI): set "
            f"SEGUE_COMFYUI_SOURCE to a ComfyUI tarball, folder or git URL@tag (README, Tests)", yellow=True)
