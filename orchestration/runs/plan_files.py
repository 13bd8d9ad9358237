"""Plan files: runs (``models``) as JSON files, read, written and batched.

Plan file format (``"segue_plan": 1``)::

    {"segue_plan": 1, "kind": "travel", "run_id": "sunset", "images": ["a.png", "b.png"],
     "prompts": "a slow pan", "segment_frames": 48, "overlap": 8, "generator": {"kind": "preview"}}

``kind`` is ``travel``, ``join`` or ``extend``.  Relative paths in a plan file (inputs, template,
reference images, output_dir, out) are relative to the file's folder.  A file that holds one of
the original queue orchestrator's payloads (``orchestrator_details``) is converted
(``orchestration.original``).  Unknown keys are warnings, near-misses are refused
(``models.run_from_dict``).

A *batch* is several plans run as one queue (``segue run A.json B.json``, a folder of ``*.json``,
or a JSONL file with one plan per line): ``read_batch`` reads and validates all of them first
and reports every problem, each line naming its plan, before anything runs.
"""

from __future__ import annotations

import json
import os
import re
import warnings as py_warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...video_utils.core import atomic
from ...video_utils.core.errors import PlanError
from ..original import is_orchestrator_payload, payload_plan
from .models import Run, run_from_dict

PLAN_SUFFIXES = (".json", ".jsonl")


@dataclass
class PlanSource:
    """One plan of a batch: where it came from (``file.json`` or ``file.jsonl:3``), the run and
    the warnings reading it produced."""

    label: str
    run: Run
    warnings: list[str] = field(default_factory=list)


def from_orchestrator_payload(payload: dict, kind: str | None = None,
                              base_dir: str | os.PathLike | None = None) -> tuple[Run, list[str]]:
    """An original orchestrator payload (``orchestration.original``) as ``(run, warnings)``."""
    data, warnings = payload_plan(payload, kind)
    return run_from_dict(data, base_dir, warnings), warnings


def parse_plan(data: Any, base_dir: str | os.PathLike | None, where: str) -> tuple[Run, list[str]]:
    """A plan object or an original orchestrator payload (converted) -> ``(run, warnings)``."""
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


