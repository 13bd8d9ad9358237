"""The runs the orchestrator executes (travels, joins, extensions) and what is the same for every
kind: the ``Run`` type, a run from its plan-file JSON object (``run_from_dict``; ``Run.to_dict``
is the other way), run ids and seeds fixed before the first submission, everything checkable
without a server (``validate_run``) and the files a run sends to a server (content-addressed).

A *run* is everything a ``/prompt`` orchestration (or the local renderer) needs: the inputs
(keyframe images, clips, or the clip to extend), the frame settings, the prompts, the seed
policy, the generator (``GeneratorConfig``: the recipe plus model file names), the colour and
guide adjustments and the output.  Each kind has its module (``travel``, ``join``, ``extend``;
what they share is ``common``, the generator ``generator``).

Frame arithmetic is never done here: ``validate()`` calls the same planners the nodes use
(``video_utils.core.travel_plan`` / ``join_plan`` / ``extend_plan``), so a run that validates
here is the plan the server executes.  Every field is type- and range-checked, so a bad value is
refused with a ``PlanError`` naming it, its value and the fix, before any server is contacted
and before anything is written.  Clips are probed with ``video_utils.core.probe`` (PyAV, no
torch).

Plan files: keys a run does not have are warnings, not errors (a plan written for a newer Segue
still runs, and the warning names each ignored key); a key one letter away from a real one
(``segment_frame``) is a typo and refused, since ignoring it would silently run with the
default.  Relative paths (inputs, template, reference images, output_dir, out) are relative to
the plan file's folder (``base_dir``).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import random
import time
import warnings as py_warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.prompt_graph import load_template
from ...video_utils.core.recipe import Recipe
from .common import PLAN_VERSION, ClipRef
from .extend import ExtendRun
from .generator import FILE_KEYS, REFERENCE_KEYS, GeneratorConfig
from .join import JoinRun
from .steps import server_folder
from .travel import TravelRun

Run = TravelRun | JoinRun | ExtendRun
RUN_CLASSES = {"travel": TravelRun, "join": JoinRun, "extend": ExtendRun}
# Every key a plan's "generator" may hold (seed / seed_policy are refused by GeneratorConfig with
# a pointer to the plan's own seed, so they count as known here).
GENERATOR_KEYS = FILE_KEYS + REFERENCE_KEYS + tuple(f.name for f in fields(Recipe))


# --- run ids and seeds --------------------------------------------------------------------------

def new_run_id(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(16 ** 4):04x}"


def finalize_run(run: Run) -> Run:
    """Fill what must be fixed before the first submission: a run id and a concrete seed."""
    if not run.run_id:
        run.run_id = new_run_id(run.kind)
    if run.seed == -1:
        run.seed = random.randrange(2 ** 31)
    return run


def run_inputs_paths(run: Run) -> list[tuple[str, str]]:
    """``(stem, path)`` of every file a run sends to a server, in the order its prompts name
    them: keyframes (travel) or clips (join), or the clip then the ``--to`` keyframes (extend),
    then the reference images, then a travel's soundtrack."""
    if isinstance(run, TravelRun):
        named = [(f"key_{i:03d}", p) for i, p in enumerate(run.images)]
    elif isinstance(run, JoinRun):
        named = [(f"clip_{i:03d}", c.path) for i, c in enumerate(run.clips)]
    else:
        named = [("clip_000", run.clip.path)] + [(f"key_{i:03d}", p) for i, p in enumerate(run.keyframes)]
    named += [(f"ref_{i:03d}", p) for i, p in enumerate(run.generator.reference_paths())]
    if isinstance(run, TravelRun) and run.soundtrack:
        named.append(("sound_000", run.soundtrack))
    return named


def validate_run(run: Run):
    """Everything that can be checked without a server; the frame plan."""
    frame_plan = run.validate()
    if run.generator.kind == "template":
        load_template(run.generator.template)
    finalize_run(run)
    return frame_plan


# --- the files a run sends to a server -----------------------------------------------------------

def run_inputs(run: Run) -> list[dict]:
    """The files a run sends to its servers, in the order the graphs name them (keyframes or
    clips, then reference images).  Names are content-addressed, so a changed file never reuses a
    stale upload."""
    items = []
    for stem, path in run_inputs_paths(run):
        sha = sha256_file(path)
        items.append({"path": str(Path(path).resolve()), "sha256": sha,
                      "name": f"{stem}_{sha[:12]}{Path(path).suffix.lower()}"})
    return items


def input_names(run_id: str, inputs: list[dict]) -> list[str]:
    """The inputs as the server's loaders name them (``segue/<run>/key_000_<sha>.png [input]``)."""
    return [f"{server_folder(run_id)}/{item['name']} [input]" for item in inputs]


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
