#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): makes sure .venv has the pack and its test
# dependencies (same install as the set-up command), then runs the unit tests once and the
# integration tests (markers comfyui, frontend) against every ComfyUI it is given.
#
# Which ComfyUI the integration tests run against (first match wins):
#   SEGUE_COMFYUI_DIR (+ SEGUE_COMFYUI_PYTHON)  an existing install: one run of the whole suite;
#   SEGUE_COMFYUI_SOURCE                         a ComfyUI tarball / folder / git URL@tag, provisioned
#                                                by scripts/comfyui-for-tests.sh: one run;
#   the tarballs in ../shared/comfyui/ (and next/) the supported range: today 0.3.64, the oldest
#                                                supported, and 0.27.0; each is provisioned (cached
#                                                in ~/.cache/segue) and gets its own integration run.
#   SEGUE_COMFYUI_VERSIONS="0.27.0"              picks versions out of ../shared for a quick local run
#                                                (space or comma separated; "none" = unit tests only).
# With a ComfyUI given or found, an integration test that cannot run fails instead of skipping.
# Extra arguments go to every pytest run. Ends with one line of counts per run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import segue, pytest, hypothesis, playwright, websocket, tqdm, aiohttp, pytest_timeout, safetensors" 2>/dev/null; then
  .venv/bin/pip install -q -c constraints.txt -e ".[test]"
fi

# One ComfyUI given: the whole suite in one pytest run, as before.
if [ -n "${SEGUE_COMFYUI_DIR:-}${SEGUE_COMFYUI_SOURCE:-}" ]; then
  if [ -n "${SEGUE_COMFYUI_SOURCE:-}" ] && [ -z "${SEGUE_COMFYUI_DIR:-}" ]; then
    provisioned=$(bash scripts/comfyui-for-tests.sh)
    eval "$provisioned"
    export SEGUE_COMFYUI_DIR SEGUE_COMFYUI_PYTHON
  fi
  exec .venv/bin/python -m pytest -q "$@"
fi

# The versions shipped in ../shared/comfyui (one tarball per version), optionally filtered.
declare -A tarball=()
for file in ../shared/comfyui/ComfyUI-*.tar.gz ../shared/comfyui/*/ComfyUI-*.tar.gz; do
  [ -f "$file" ] || continue
  version=$(basename "$file" .tar.gz)
  tarball[${version#ComfyUI-}]=$(realpath "$file")
done
wanted=${SEGUE_COMFYUI_VERSIONS:-all}
versions=()
if [ "$wanted" != "none" ]; then
  for version in $(printf '%s\n' "${!tarball[@]}" | sort -V); do
    if [ "$wanted" = "all" ] || [[ " ${wanted//,/ } " == *" $version "* ]]; then
      versions+=("$version")
    fi
  done
  for version in ${wanted//,/ }; do
    if [ "$version" != "all" ] && [ -z "${tarball[$version]:-}" ]; then
      echo "run-tests: SEGUE_COMFYUI_VERSIONS names $version, but ../shared/comfyui/ has only: ${!tarball[*]}" >&2
      exit 2
    fi
  done
fi
if [ "${#versions[@]}" -eq 0 ]; then      # no ComfyUI anywhere: the integration tests skip and say so
  exec .venv/bin/python -m pytest -q "$@"
fi

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
status=0
run() {  # label, pytest arguments...: exit 5 (nothing selected, e.g. by -k) is not a failure
  local label=$1; shift
  echo "== $label"
  local rc=0
  .venv/bin/python -m pytest -q --junitxml="$reports/$label.xml" "$@" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=1; fi
}

run unit -m "not comfyui and not frontend" "$@"
for version in "${versions[@]}"; do
  provisioned=$(SEGUE_COMFYUI_SOURCE=${tarball[$version]} bash scripts/comfyui-for-tests.sh)
  (
    eval "$provisioned"
    export SEGUE_COMFYUI_DIR SEGUE_COMFYUI_PYTHON SEGUE_COMFYUI_VERSION
    run "comfyui-$version" -m "comfyui or frontend" "$@"
    exit "$status"
  ) || status=1
done

.venv/bin/python - "$reports" <<'PY'
import pathlib, sys
import xml.etree.ElementTree as ET
print("== counts")
for report in sorted(pathlib.Path(sys.argv[1]).glob("*.xml"), key=lambda p: p.stat().st_mtime):   # run order
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
    print(f"{report.stem}: {passed} passed, {n['failures']} failed, {n['errors']} errors, {n['skipped']} skipped")
PY
exit "$status"
