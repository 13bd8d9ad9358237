"""Plan files: runs (``run_models``) as JSON files, read, written and batched.

Plan file format (``"segue_plan": 1``)::

    {"segue_plan": 1, "kind": "travel", "run_id": "sunset", "images": ["a.png", "b.png"],
     "prompts": "a slow pan", "segment_frames": 48, "overlap": 8, "generator": {"kind": "preview"}}

``kind`` is ``travel``, ``join`` or ``extend``.  Relative paths in a plan file (inputs, template,
reference images, output_dir, out) are relative to the file's folder.  A file that holds one of
the original queue orchestrator's payloads (``orchestrator_details``) is converted
(``original_payloads``).

Keys a run does not have are warnings, not errors: a plan written for a newer Segue (or carrying
notes of its own) still runs, and the warning names each ignored key.  A key one letter away
from a real one (``segment_frame``) is a typo and refused, since ignoring it would silently run
with the default.

A *batch* is several plans run as one queue (``segue run A.json B.json``, a folder of ``*.json``,
or a JSONL file with one plan per line): ``read_batch`` reads and validates all of them first
and reports every problem, each line naming its plan, before anything runs.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import warnings as py_warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..video_utils.core import atomic
from ..video_utils.core.errors import PlanError
from ..video_utils.core.recipe import Recipe
from .generator_config import FILE_KEYS, REFERENCE_KEYS, GeneratorConfig
from .run_checks import brief
from .run_common import PLAN_VERSION, ClipRef
from .run_models import RUN_CLASSES, Run

# Every key a plan's "generator" may hold (seed / seed_policy are refused by GeneratorConfig with
# a pointer to the plan's own seed, so they count as known here).
GENERATOR_KEYS = FILE_KEYS + REFERENCE_KEYS + tuple(f.name for f in fields(Recipe))
PLAN_SUFFIXES = (".json", ".jsonl")


@dataclass
class PlanSource:
    """One plan of a batch: where it came from (``file.json`` or ``file.jsonl:3``), the run and
    the warnings reading it produced."""

    label: str
    run: Run
    warnings: list[str] = field(default_factory=list)


# --- JSON -> runs ---------------------------------------------------------------------------------

def run_from_dict(data: Any, base_dir: str | os.PathLike | None = None,
                  warnings: list[str] | None = None) -> Run:
    """A run from its JSON object; relative paths are resolved against ``base_dir``.

    Unknown keys are appended to ``warnings`` (a list the caller prints); without a list they
    are Python warnings (``UserWarning``).
    """
    notes: list[str] = [] if warnings is None else warnings
    if not isinstance(data, dict):
        raise PlanError(f"a plan must be a JSON object, not {type(data).__name__}: write {{\"segue_plan\": 1, "
                        f"\"kind\": \"travel\", ...}}")
    version = data.get("segue_plan", PLAN_VERSION)
    if version != PLAN_VERSION:
        raise PlanError(f"segue_plan={brief(version)} is not a plan version this Segue reads (expected {PLAN_VERSION})")
    kind = data.get("kind")
    cls = RUN_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise PlanError(f"kind={brief(kind)}: a plan file's kind is \"travel\", \"join\" or \"extend\"")
    body = {k: v for k, v in data.items() if k not in ("segue_plan", "kind")}
    body = _known(body, [f.name for f in fields(cls)], f"{kind} plan", notes)
    if isinstance(body.get("generator"), dict):
        body["generator"] = _known(body["generator"], GENERATOR_KEYS, "generator", notes)
    body["generator"] = GeneratorConfig.from_dict(body.get("generator"))
    base = Path(base_dir) if base_dir is not None else None
    required = {"travel": "images", "join": "clips", "extend": "clip"}[kind]
    if required not in body:
        raise PlanError(f"{kind} plan has no {required!r}: give the {required} to {kind}")
    if kind == "travel":
        body["images"] = [_resolve(p, base, f"images[{i}]") for i, p in enumerate(_list(body["images"], "images"))]
    elif kind == "join":
        body["clips"] = [_clip_ref(c, f"clips[{i}]", base) for i, c in enumerate(_list(body["clips"], "clips"))]
    else:
        body["clip"] = _clip_ref(body["clip"], "clip", base)
        if "keyframes" in body:
            body["keyframes"] = [_resolve(p, base, f"keyframes[{i}]")
                                 for i, p in enumerate(_list(body["keyframes"], "keyframes"))]
    run = cls(**body)
    generator = run.generator
    if generator.kind == "template" and base is not None:
        generator.settings["template"] = _resolve(generator.template, base, "generator.template")
    if generator.reference_image:
        generator.reference_image = _resolve(generator.reference_image, base, "generator.reference_image")
    if isinstance(generator.segment_reference_images, list):
        generator.segment_reference_images = [
            None if p is None else _resolve(p, base, f"generator.segment_reference_images[{i}]")
            for i, p in enumerate(generator.segment_reference_images)]
    run.output_dir = _resolve(run.output_dir, base, "output_dir")
    if run.out:
        run.out = _resolve(run.out, base, "out")
    if warnings is None:
        for note in notes:
            py_warnings.warn(note, UserWarning, stacklevel=2)
    return run


def parse_plan(data: Any, base_dir: str | os.PathLike | None, where: str) -> tuple[Run, list[str]]:
    """A plan object or an original orchestrator payload (converted) -> ``(run, warnings)``."""
    from .original_payloads import from_orchestrator_payload, is_orchestrator_payload

    notes: list[str] = []
    if isinstance(data, dict) and "segue_plan" not in data and is_orchestrator_payload(data):
        run, notes = from_orchestrator_payload(data, base_dir=base_dir)
    else:
        run = run_from_dict(data, base_dir, notes)
    return run, [f"{where}: {n}" for n in notes]


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise PlanError(f"plan file {str(path)!r} is a folder: give the plan file, or run the folder's plans "
                        f"with `segue run {path}/`") from None
    except OSError as e:
        raise PlanError(f"plan file {str(path)!r} cannot be read ({e.strerror}): check the path") from None
    if not data.strip():
        raise PlanError(f"plan file {str(path)!r} is empty: write a plan ({{\"segue_plan\": 1, \"kind\": ...}})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PlanError(f"plan file {str(path)!r} is not UTF-8 text (byte {data[e.start]:#04x} at offset "
                        f"{e.start}): save it as UTF-8") from None


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise PlanError(f"{where} is not JSON (line {e.lineno}, column {e.colno}: {e.msg}): fix the syntax") from None


def _no_constant(name: str):
    raise PlanError(f"a plan holds {name}, which is not a JSON number: write a finite number")


def read_json(path: str | os.PathLike) -> Any:
    """A plan (or payload) file's JSON value; unreadable, empty, non-UTF-8 and malformed files are
    refused naming the file and what is wrong."""
    path = Path(path)
    return _json(_read_text(path), f"plan file {str(path)!r}")


def read_plan(path: str | os.PathLike) -> tuple[Run, list[str]]:
    """One plan file (or original payload) -> ``(run, warnings)``."""
    path = Path(path)
    return parse_plan(read_json(path), path.resolve().parent, path.name)


def load_plan(path: str | os.PathLike) -> Run:
    """``read_plan`` for Python callers: the warnings become ``UserWarning``."""
    run, notes = read_plan(path)
    for note in notes:
        py_warnings.warn(note, UserWarning, stacklevel=2)
    return run


def save_plan(run: Run, path: str | os.PathLike) -> None:
    atomic.write_text(Path(path), json.dumps(run.to_dict(), indent=2) + "\n")


# --- batches ----------------------------------------------------------------------------------------

def batch_sources(paths: list[Path]) -> list[tuple[str, Any, Path]]:
    """``(label, JSON value, base folder)`` of every plan in ``paths``: plan files, folders of
    ``*.json`` plans, JSONL files (one plan per line)."""
    entries: list[tuple[str, Any, Path]] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in PLAN_SUFFIXES and p.is_file()
                           and not p.name.startswith("."))
            if not files:
                raise PlanError(f"folder {str(path)!r} holds no plan files (*.json, *.jsonl): give plan files")
            entries.extend(e for f in files for e in batch_sources([f]))
        elif path.suffix.lower() == ".jsonl":
            lines = _read_text(path).splitlines()
            for n, line in enumerate(lines, 1):
                if line.strip():
                    label = f"{path.name}:{n}"
                    entries.append((label, _json(line, f"{label}"), path.resolve().parent))
        else:
            entries.append((path.name, read_json(path), path.resolve().parent))
    return entries


def batch_run_id(label: str) -> str:
    """A batch plan's default run id, from its file name (and JSONL line): re-running the same
    batch finds the same run directories and resumes them."""
    stem = label.rsplit(".", 1)[0] if ":" not in label else label.replace(".jsonl:", "-").replace(".JSONL:", "-")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "plan"
    return cleaned[:80]


def read_batch(paths: list[Path]) -> list[PlanSource]:
    """Every plan of a batch, converted; a batch plan without a run id gets ``batch_run_id``.
    Problems of all plans are reported together (one line each, naming the plan)."""
    problems: list[str] = []
    sources: list[PlanSource] = []
    entries = batch_sources(paths)
    for label, data, base in entries:
        try:
            run, notes = parse_plan(data, base, label)
        except PlanError as e:
            problems.extend(f"{label}: {line}" for line in str(e).splitlines())
            continue
        if not run.run_id:
            run.run_id = batch_run_id(label)
        sources.append(PlanSource(label, run, notes))
    seen: dict[str, str] = {}
    for source in sources:
        key = os.path.join(source.run.output_dir, source.run.run_id)
        if key in seen:
            problems.append(f"{source.label}: run_id {source.run.run_id!r} is also {seen[key]}'s: give each plan "
                            f"its own run_id")
        seen.setdefault(key, source.label)
    if problems:
        raise PlanError("\n".join(problems))
    return sources


# --- helpers ------------------------------------------------------------------------------------

def _known(data: dict, names: list[str] | tuple[str, ...], what: str, notes: list[str]) -> dict:
    """``data`` without the keys ``names`` lacks: near-misses of a known key are refused as typos,
    the others noted in ``notes`` and dropped."""
    out = {}
    for key, value in data.items():
        if key in names:
            out[key] = value
            continue
        close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.85)
        if close:
            raise PlanError(f"{what} has unknown key {key!r}: did you mean {close[0]!r}?")
        notes.append(f"{what} key {key!r} is not a Segue setting and is ignored")
    return out


def _list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise PlanError(f"{name}={brief(value)} must be a list of paths, e.g. [\"a.png\", \"b.png\"]")
    return value


def _resolve(path: Any, base: Path | None, name: str) -> str:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise PlanError(f"{name}={brief(path)} must be a file path")
    text = str(path)
    if text.lower().startswith(("http://", "https://")):
        return text            # refused with its name when the run is validated
    p = Path(os.path.expanduser(text))
    if base is not None and not p.is_absolute():
        p = base / p
    return str(p)


def _clip_ref(value: Any, name: str, base: Path | None) -> ClipRef:
    if isinstance(value, (str, os.PathLike)):
        return ClipRef(_resolve(value, base, name), Path(str(value)).stem)
    if isinstance(value, dict) and (value.get("path") or value.get("url")):
        unknown = sorted(set(value) - {"path", "url", "name"})
        if unknown:
            raise PlanError(f"{name} has unknown keys {unknown}: a clip is {{\"path\": ..., \"name\": ...}}")
        clip_name = value.get("name", "")
        if not isinstance(clip_name, str):
            raise PlanError(f"{name}.name={brief(clip_name)} must be text")
        return ClipRef(_resolve(value.get("path") or value.get("url"), base, f"{name}.path"), clip_name)
    raise PlanError(f"{name}={brief(value)} must be a path or an object with \"path\" (and optional \"name\")")
