#!/usr/bin/env bash
# Provision a real ComfyUI for Segue's integration tests, the way a custom-node pack's CI does:
# unpack (or clone) ComfyUI from a source you name, give it a venv of its own, install its
# requirements plus this pack's, and cache the result OUTSIDE the clone so the next run reuses it
# in seconds. ComfyUI's code is never copied into the pack.
#
#   SEGUE_COMFYUI_SOURCE   a release tarball (.tar.gz/.tgz/.zip, a path or an http(s) URL),
#                          an unpacked ComfyUI folder, or a git URL with a tag:
#                          git+https://github.com/comfyanonymous/ComfyUI.git@v0.3.64
#   SEGUE_COMFYUI_PINS     pip requirement lines installed first (default scripts/comfyui-test-pins.txt:
#                          the CPU torch/torchvision/transformers that work on the project's machines;
#                          point it at an empty file to let pip choose)
#   SEGUE_COMFYUI_NODEPS   pip requirement lines installed with --no-deps after ComfyUI's requirements
#                          (default scripts/comfyui-test-nodeps.txt: torchaudio, which newer ComfyUI
#                          imports at start-up and whose registry release pins another torch)
#   SEGUE_CACHE_DIR        cache root (default ${XDG_CACHE_HOME:-~/.cache}/segue)
#
# Prints shell assignments for SEGUE_COMFYUI_DIR and SEGUE_COMFYUI_PYTHON on stdout (eval them);
# progress goes to stderr. Re-running with a warm cache only re-checks the pack's requirements.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
source_spec=${SEGUE_COMFYUI_SOURCE:?set SEGUE_COMFYUI_SOURCE to a ComfyUI tarball, folder or git URL@tag}
pins=${SEGUE_COMFYUI_PINS:-$repo/scripts/comfyui-test-pins.txt}
nodeps=${SEGUE_COMFYUI_NODEPS:-$repo/scripts/comfyui-test-nodeps.txt}
cache_root=${SEGUE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/segue}
python=${SEGUE_PYTHON:-python3}

say() { echo "[comfyui-for-tests] $*" >&2; }
die() { echo "[comfyui-for-tests] error: $*" >&2; exit 1; }

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. Bring the source into $work/src (cheap: a tarball of a few MB or a shallow clone).
fetch_source() {
  local spec=$1 dest=$work/src
  case "$spec" in
    git+*|*.git@*|*.git)
      local url=${spec#git+} ref=""
      if [[ "$url" == *@* && "${url##*@}" != *"/"* ]]; then ref=${url##*@}; url=${url%@*}; fi
      say "cloning $url ${ref:+at $ref}"
      git clone -q --depth 1 ${ref:+--branch "$ref"} "$url" "$dest" >&2 || die "git clone of $url failed"
      ;;
    http://*|https://*)
      say "downloading $spec"
      local archive=$work/archive
      case "$spec" in *.zip) archive+=.zip ;; *) archive+=.tar.gz ;; esac
      "$python" - "$spec" "$archive" <<'PY' || die "download of $spec failed"
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)
PY
      unpack "$archive" "$dest"
      ;;
    *)
      [ -e "$spec" ] || die "SEGUE_COMFYUI_SOURCE=$spec does not exist (a tarball, a folder or git+URL@tag)"
      if [ -d "$spec" ]; then
        [ -f "$spec/main.py" ] || die "$spec has no main.py: point SEGUE_COMFYUI_SOURCE at a ComfyUI folder"
        say "copying $spec"
        mkdir -p "$dest"
        tar -C "$spec" --exclude=./.venv --exclude=./.git --exclude=./models --exclude=./output \
            --exclude=./input --exclude=./custom_nodes -cf - . | tar -C "$dest" -xf -
      else
        unpack "$spec" "$dest"
      fi
      ;;
  esac
  [ -f "$dest/main.py" ] && [ -f "$dest/comfyui_version.py" ] || die "$spec does not hold a ComfyUI (no main.py/comfyui_version.py)"
}

unpack() {  # archive -> folder holding main.py (release archives wrap it in one top folder)
  local archive=$1 dest=$2 tmp=$work/unpacked
  mkdir -p "$tmp"
  say "unpacking $(basename "$archive")"
  case "$archive" in
    *.zip) "$python" -m zipfile -e "$archive" "$tmp" ;;
    *) tar -C "$tmp" -xzf "$archive" ;;
  esac
  local top
  top=$(find "$tmp" -maxdepth 2 -name main.py -printf '%h\n' | head -n 1)
  [ -n "$top" ] || die "$archive holds no ComfyUI main.py"
  mv "$top" "$dest"
}

fetch_source "$source_spec"
version=$(sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$work/src/comfyui_version.py")
[ -n "$version" ] || die "cannot read ComfyUI's version from comfyui_version.py"
target=$cache_root/comfyui-$version
comfy=$target/ComfyUI
venv_python=$comfy/.venv/bin/python

exec 9>"$cache_root/comfyui-$version.lock"
flock 9   # two test runs never provision the same cache at once

# 2. The base install: ComfyUI's code + venv + pins + ComfyUI's requirements. Rebuilt only when
#    one of them changes (their hash is the stamp).
grep -vE '^\s*(torch|torchvision|torchaudio)\s*($|[<>=!~;#])' "$work/src/requirements.txt" > "$work/comfy-requirements.txt"
base_key=$( { cat "$pins" 2>/dev/null; cat "$nodeps" 2>/dev/null; cat "$work/comfy-requirements.txt"; "$python" -V; } | sha256sum | cut -c1-16)
if [ "$(cat "$target/base.stamp" 2>/dev/null)" != "$base_key" ] || [ ! -x "$venv_python" ]; then
  start=$SECONDS
  say "installing ComfyUI $version into $target (first run: a few minutes, several GB)"
  # Built in place (venvs are not relocatable); the stamp is written last, so an interrupted
  # install is redone from scratch next time.
  rm -rf "$target"
  mkdir -p "$target"
  mv "$work/src" "$comfy"
  "$python" -m venv "$comfy/.venv"
  if [ -s "$pins" ]; then
    "$venv_python" -m pip install -q --disable-pip-version-check -r "$pins" >&2
  fi
  "$venv_python" -m pip install -q --disable-pip-version-check -r "$work/comfy-requirements.txt" >&2
  # torch/torchvision/torchaudio are filtered out of ComfyUI's list above: no torchaudio release
  # matches the CPU torch pinned here, so it goes in without its dependencies (0.3.64 only loses
  # its audio nodes without it; 0.27 does not start without it). Segue's sound uses PyAV.
  if [ -s "$nodeps" ]; then
    "$venv_python" -m pip install -q --disable-pip-version-check --no-deps -r "$nodeps" >&2
  fi
  echo "$base_key" > "$target/base.stamp"
  rm -f "$target/pack.stamp"
  say "ComfyUI $version installed in $((SECONDS - start)) s"
fi

# 3. The pack's requirements (cheap to re-check; redone when requirements.txt changes).
pack_key=$(cat "$repo/requirements.txt" | sha256sum | cut -c1-16)
if [ "$(cat "$target/pack.stamp" 2>/dev/null)" != "$pack_key" ]; then
  say "installing Segue's requirements into ComfyUI's venv"
  "$venv_python" -m pip install -q --disable-pip-version-check -r "$repo/requirements.txt" >&2
  echo "$pack_key" > "$target/pack.stamp"
fi
"$venv_python" -c "import torch, torchvision, av, cv2" 2>/dev/null \
  || die "ComfyUI's venv at $comfy/.venv cannot import torch/torchvision/av/cv2: delete $target and retry"

say "ComfyUI $version ready: $comfy"
printf 'SEGUE_COMFYUI_DIR=%q\nSEGUE_COMFYUI_PYTHON=%q\nSEGUE_COMFYUI_VERSION=%q\n' "$comfy" "$venv_python" "$version"
