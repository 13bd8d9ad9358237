#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): makes sure .venv has the pack and its test
# dependencies (same install as the set-up command), provisions a real ComfyUI for the
# integration tests when SEGUE_COMFYUI_SOURCE names one (scripts/comfyui-for-tests.sh, cached
# outside the clone), then runs the whole pytest suite.
#
# ComfyUI for the integration tests: SEGUE_COMFYUI_DIR (+ SEGUE_COMFYUI_PYTHON) = an existing
# install; or SEGUE_COMFYUI_SOURCE = a ComfyUI tarball / folder / git URL@tag to provision; or
# /opt/comfyui. With either variable set, an integration test that cannot run fails instead of
# skipping. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import segue, pytest, hypothesis, playwright, websocket, tqdm, aiohttp, pytest_timeout, safetensors" 2>/dev/null; then
  .venv/bin/pip install -q -c constraints.txt -e ".[test]"
fi
if [ -n "${SEGUE_COMFYUI_SOURCE:-}" ] && [ -z "${SEGUE_COMFYUI_DIR:-}" ]; then
  provisioned=$(bash scripts/comfyui-for-tests.sh)
  eval "$provisioned"
  export SEGUE_COMFYUI_DIR SEGUE_COMFYUI_PYTHON
fi
exec .venv/bin/python -m pytest -q "$@"
