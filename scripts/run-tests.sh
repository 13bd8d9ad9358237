#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): makes sure .venv has the pack and its test
# dependencies (same install as the set-up command), then runs the whole pytest suite.
# Integration tests against a real ComfyUI run when one is installed (SEGUE_COMFYUI_DIR, default
# /opt/comfyui) and skip with the reason otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import segue, pytest, hypothesis, playwright" 2>/dev/null; then
  .venv/bin/pip install -q -c constraints.txt -e ".[test]"
fi
exec .venv/bin/python -m pytest -q "$@"
