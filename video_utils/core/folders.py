"""File names that reach Segue nodes, confined to ComfyUI's input/, output/ and temp/ folders.

ComfyUI's own ``get_annotated_filepath`` joins a name to a base folder without any check, so an
API caller could make a loader read ``../../etc/passwd`` or a saver write into ``custom_nodes/``.
Every Segue node that reads or writes a file goes through here instead: names are relative,
``name [input]`` / ``name [output]`` / ``name [temp]`` annotated as in core, and must resolve
(symlinks followed) inside their base folder.  Pure Python; the folders are passed in, so this is
unit-tested without ComfyUI.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass

from .constants import IMAGE_EXTENSIONS, LOSSLESS_SUFFIX, VIDEO_EXTENSIONS
from .parse import lines

FOLDER_TYPES = ("input", "output", "temp")
_ANNOTATION = re.compile(r"^(?P<name>.*?)\s*\[(?P<kind>input|output|temp)\]\s*$", re.DOTALL)
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")     # http://, file:///, s3://... (a drive is one letter)
# Longest file or folder name accepted, in UTF-8 bytes: the OS allows 255 and the atomic writer's
# hidden temporary name adds about 20; and the longest relative path.
MAX_NAME_BYTES = 200
MAX_PATH_BYTES = 1024


class PathError(ValueError):
    """A file name that is malformed, escapes its folder, or names a missing file."""


@dataclass(frozen=True)
class Folders:
    """ComfyUI's three user-visible folders (absolute paths)."""

    input: str
    output: str
    temp: str

    def base(self, kind: str) -> str:
        if kind not in FOLDER_TYPES:
            raise PathError(f"folder type {kind!r} is not one of {', '.join(FOLDER_TYPES)}")
        return getattr(self, kind)


def split_annotation(name: str, default: str = "input") -> tuple[str, str]:
    """``"sub/x.mkv [output]"`` -> ``("sub/x.mkv", "output")``; no annotation -> ``default``."""
    match = _ANNOTATION.match(name)
    if match:
        return match.group("name").strip(), match.group("kind")
    return name.strip(), default


def annotate(relative: str, kind: str) -> str:
    """Core's convention for a file in one of the folders: ``"sub/x.mkv [output]"``."""
    return f"{relative} [{kind}]"


def check_relative(name: str, what: str) -> str:
    """``name`` as a clean relative path with ``/`` separators, or PathError naming ``what``.

    Refuses empty names, NUL, absolute paths (``/x``, ``\\x``, ``C:x``), ``~``, URLs (nothing is
    ever downloaded), any ``..`` component, whichever separator is used, text that is not UTF-8
    (lone surrogates from a JSON ``\\ud800`` escape) and names too long for the file system.
    """
    if not isinstance(name, str) or not name.strip():
        raise PathError(f"{what} is empty: give a file name relative to ComfyUI's input/output/temp folder")
    if "\x00" in name:
        raise PathError(f"{what}={name!r} contains a NUL character: give a plain file name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PathError(f"{what}={name!r} is not UTF-8 text (character {e.start} cannot be encoded): retype the "
                        f"name, or rename the file to a UTF-8 name") from None
    text = name.strip()
    if _URL.match(text):
        raise PathError(f"{what}={text!r} is a URL: Segue never downloads anything; put the file into ComfyUI's "
                        f"input/ folder and give its name")
    if text.startswith(("/", "\\", "~")) or _WINDOWS_DRIVE.match(text):
        raise PathError(
            f"{what}={text!r} is an absolute path: give a name relative to ComfyUI's input/, output/ "
            f"or temp/ folder, e.g. 'segue/clip.mp4 [input]'"
        )
    parts = [p for p in re.split(r"[\\/]+", text) if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise PathError(f"{what}={text!r} contains '..': names must stay inside their folder")
    if not parts:
        raise PathError(f"{what}={text!r} names no file: give a file name")
    longest = max(parts, key=lambda p: len(p.encode("utf-8")))
    if len(longest.encode("utf-8")) > MAX_NAME_BYTES:
        raise PathError(f"{what}={text[:60]!r}... has a name part of {len(longest.encode('utf-8'))} bytes, above the "
                        f"limit of {MAX_NAME_BYTES}: use a shorter name")
    relative = "/".join(parts)
    if len(relative.encode("utf-8")) > MAX_PATH_BYTES:
        raise PathError(f"{what}={text[:60]!r}... is {len(relative.encode('utf-8'))} bytes long, above the limit of "
                        f"{MAX_PATH_BYTES}: use a shorter path")
    return relative


def _inside(path: str, base: str) -> bool:
    try:
        return os.path.commonpath([path, base]) == base
    except ValueError:  # different drives
        return False


def resolve_input(name: str, folders: Folders, what: str, default: str = "input",
                  extensions: tuple[str, ...] | None = None, must_exist: bool = True) -> str:
    """Absolute real path of annotated ``name`` for reading, confined to its folder.

    ``extensions`` (lower-case, with dot) restricts what may be opened.  Symlinks are followed
    and the target must still lie inside the folder.
    """
    relative, kind = split_annotation(name, default)
    relative = check_relative(relative, what)
    base = os.path.realpath(folders.base(kind))
    path = os.path.realpath(os.path.join(base, relative))
    if not _inside(path, base):
        raise PathError(f"{what}={name!r} resolves outside ComfyUI's {kind}/ folder: use a file inside it")
    if extensions is not None and os.path.splitext(path)[1].lower() not in extensions:
        raise PathError(
            f"{what}={name!r} has an unsupported extension: use one of {', '.join(sorted(extensions))}"
        )
    if must_exist and not os.path.isfile(path):
        raise PathError(
            f"{what}={name!r} was not found in ComfyUI's {kind}/ folder (looked for {relative}): check the "
            f"name, the subfolder and the [input]/[output]/[temp] suffix"
        )
    return path


def resolve_output(filename: str, folders: Folders, what: str, suffix: str = "",
                   default: str = "output", allowed: tuple[str, ...] = ("output", "temp")) -> tuple[str, str, str]:
    """Where to write ``filename`` (+ ``suffix`` unless it already ends with it).

    Returns ``(absolute_path, kind, relative_path)``; creates the parent folders.  Refuses the
    same names as ``check_relative``, folders other than ``allowed``, and parents that resolve
    (through symlinks) outside the base folder - checked before and after creating them.
    """
    relative, kind = split_annotation(filename, default)
    if kind not in allowed:
        raise PathError(f"{what}={filename!r} writes into {kind}/: Segue only writes into {' or '.join(allowed)}/")
    if relative.rstrip().endswith(("/", "\\")):
        raise PathError(f"{what}={filename!r} names a folder: add a file name")
    relative = check_relative(relative, what)
    if suffix and not relative.lower().endswith(suffix.lower()):
        relative += suffix
    folder = output_folder(os.path.dirname(relative), folders, kind, what, filename)
    target = os.path.join(folder, os.path.basename(relative))
    if os.path.islink(target) or os.path.isdir(target):
        raise PathError(f"{what}={filename!r} is a link or a folder: choose another name")
    base = os.path.realpath(folders.base(kind))
    return target, kind, os.path.relpath(target, base).replace(os.sep, "/")


def output_folder(relative_dir: str, folders: Folders, kind: str, what: str, shown: str | None = None) -> str:
    """Create ``relative_dir`` under the ``kind`` folder and return its real path, refusing any
    part of it that leads outside the folder through a symlink (checked before creating, so
    nothing is created outside, and after)."""
    shown = relative_dir if shown is None else shown
    base = os.path.realpath(folders.base(kind))
    os.makedirs(base, exist_ok=True)
    if relative_dir:
        relative_dir = check_relative(relative_dir, what)
    path = os.path.join(base, relative_dir)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not _inside(os.path.realpath(existing), base):
        raise PathError(f"{what}={shown!r} resolves outside ComfyUI's {kind}/ folder (through a link): choose another name")
    os.makedirs(path, exist_ok=True)
    real = os.path.realpath(path)
    if not _inside(real, base):
        raise PathError(f"{what}={shown!r} resolves outside ComfyUI's {kind}/ folder (through a link): choose another name")
    return real


def to_annotated(path: str, folders: Folders) -> str:
    """The annotated name of an existing absolute ``path`` inside one of the folders.

    Used to hand a file a node wrote (or a core VIDEO read) to a Segue loader by name.
    """
    real = os.path.realpath(path)
    for kind in ("output", "temp", "input"):
        base = os.path.realpath(folders.base(kind))
        if _inside(real, base) and real != base:
            return annotate(os.path.relpath(real, base).replace(os.sep, "/"), kind)
    raise PathError(
        f"{path} is not inside ComfyUI's input/, output/ or temp/ folder: Segue only reads files there"
    )


def result_entry(relative: str, kind: str, **extra) -> dict:
    """A history/UI entry ``{filename, subfolder, type, ...}`` for a written file."""
    subfolder, filename = os.path.split(relative)
    return {"filename": filename, "subfolder": subfolder, "type": kind, **extra}


def next_counter_name(prefix: str, existing: list[str]) -> int:
    """First counter above every ``<prefix>_<NNNNN>`` in ``existing`` (a folder listing)."""
    pattern = re.compile(re.escape(prefix) + r"_(\d{5,})(?:\b|_|\.|$)")
    counters = [int(m.group(1)) for m in (pattern.match(e) for e in existing) if m]
    return max(counters, default=0) + 1


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def expand_folders(names: list[str], folders: Folders, what: str, extensions: tuple[str, ...]) -> list[str]:
    """``names`` with every entry that ends in ``/`` (e.g. ``shots/`` or ``shots/ [output]``)
    replaced by the files in that folder with one of ``extensions``, in natural name order
    (``k2`` before ``k10``); subfolders are not entered.  Hidden files are skipped: a writer killed
    mid-write leaves ``.name.<tag>.part.mp4`` (core.atomic), macOS leaves ``._name.mp4``;
    neither is a clip.  A folder without such files is an error."""
    out: list[str] = []
    for name in names:
        relative, kind = split_annotation(name, "input")
        if not relative.rstrip().endswith(("/", "\\")):
            out.append(name)
            continue
        folder = check_relative(relative.rstrip("/\\"), what) if relative.strip("/\\") else ""
        base = os.path.realpath(folders.base(kind))
        path = os.path.realpath(os.path.join(base, folder))
        if not _inside(path, base) or not os.path.isdir(path):
            raise PathError(f"{what}={name!r} is not a folder inside ComfyUI's {kind}/ folder: check the name")
        files = sorted((f for f in os.listdir(path) if os.path.splitext(f)[1].lower() in extensions
                        and not f.startswith(".") and os.path.isfile(os.path.join(path, f))), key=_natural_key)
        if not files:
            raise PathError(f"{what}={name!r} holds no {'/'.join(e.lstrip('.') for e in extensions[:4])} files: "
                            f"put the files in it or list them one per line")
        out += [annotate(f"{folder}/{f}" if folder else f, kind) for f in files]
    return out


# --- the names Segue's nodes read and write -------------------------------------------------------

# A step file name that already ends in a lossless container video_write supports keeps it.
LOSSLESS_SUFFIXES = (LOSSLESS_SUFFIX, ".avi")


def image_paths(text: str, folders: Folders, what: str = "images") -> list[str]:
    """The image files a multiline list names (``folder/`` entries expanded), confined and checked."""
    names = expand_folders(lines(text, what), folders, what, IMAGE_EXTENSIONS)
    return [resolve_input(n, folders, what, extensions=IMAGE_EXTENSIONS) for n in names]


def clip_paths(text: str, folders: Folders, what: str = "clip_files") -> tuple[list[str], list[str]]:
    """``(annotated names, real paths)`` of a multiline clip list, confined to the folders."""
    names = lines(text, what)
    return names, [resolve_input(n, folders, what, extensions=VIDEO_EXTENSIONS) for n in names]


def step_target(filename: str, folder: str, folders: Folders) -> tuple[str, str, str]:
    """Where a step's lossless file goes: ``filename`` exactly (under output/ unless annotated,
    ``.mkv`` unless it names a lossless container), or a fresh name under ``segue/steps/`` in
    ``folder`` (a new file per run, so a cached result never points at a file a later run
    overwrote).  Returns ``(absolute path, kind, relative path)``."""
    if filename.strip():
        name = split_annotation(filename, "output")[0].lower()
        suffix = next((s for s in LOSSLESS_SUFFIXES if name.endswith(s)), LOSSLESS_SUFFIX)
    else:
        filename, suffix = f"segue/steps/{uuid.uuid4().hex} [{folder}]", LOSSLESS_SUFFIX
    return resolve_output(filename, folders, "filename", suffix=suffix)


def prefix_folder(prefix: str, folders: Folders, what: str, kind: str = "output") -> tuple[str, str, str]:
    """``(real folder, subfolder, stem)`` of a counter prefix, the folder created and confined.

    A prefix always writes into ``kind``'s folder: an annotation naming another folder, or a
    prefix ending in ``/``, is refused rather than ignored.  The expanding nodes call this before
    anything runs, so a bad prefix never costs a generated segment.
    """
    name, annotated = split_annotation(prefix, kind)
    if annotated != kind:
        raise PathError(f"{what}={prefix!r} names the {annotated}/ folder, but a prefix writes into {kind}/: "
                        f"drop the ' [{annotated}]'")
    if name.rstrip().endswith(("/", "\\")):
        raise PathError(f"{what}={prefix!r} names a folder: add the file name's start, e.g. '{name.rstrip()}video'")
    sub, stem = os.path.split(check_relative(name, what))
    return output_folder(sub, folders, kind, what, prefix), sub, stem


def counter_path(prefix: str, ending: str, folders: Folders, what: str, kind: str = "output") -> tuple[str, str]:
    """``<prefix>_<NNNNN><ending>`` with the first unused counter, confined to the folder.
    Returns ``(absolute_path, relative_path)``."""
    folder, sub, stem = prefix_folder(prefix, folders, what, kind)
    name = f"{stem}_{next_counter_name(stem, os.listdir(folder)):05d}{ending}"
    path, _, rel = resolve_output(f"{sub}/{name}" if sub else name, folders, what, default=kind)
    return path, rel


def final_target(filename: str, filename_prefix: str, folders: Folders) -> tuple[str, str, str]:
    """Where a final MP4 goes: ``filename_prefix`` (a counter-suffixed name under output/), else
    exactly ``filename`` (+ ``.mp4``).  Returns ``(absolute path, kind, relative path)``."""
    if filename_prefix:
        path, relative = counter_path(filename_prefix, "_.mp4", folders, "filename_prefix")
        return path, "output", relative
    if not filename.strip():
        raise PathError("filename and filename_prefix are both empty: give the output file's name")
    return resolve_output(filename, folders, "filename", suffix=".mp4")
