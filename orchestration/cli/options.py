"""The ``segue`` command's options, parsed once into typed objects (one dataclass per family).

Each family declares its fields with their defaults and the command-line flags that set them
(``add_arguments``), and builds itself from argparse's namespace (``from_namespace``), so a
default is written in one place and the commands never read the namespace.  Python callers
(``commands.run_plan``) build the same objects directly.  A new setting = one field and one flag
in its family.

The families: what a local render takes (``plan_options``: frames, joins, extensions, encoding,
delivery), what a run on servers takes (``server_options``: servers, run directory, generation,
model files) and each command's bundle of them (``command_options``).  This module holds what
they share: the ``Options`` base and the value converters of their flags.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from ...video_utils.core.errors import PlanError


class Options:
    """Shared by the families: the fields present in a parsed namespace, the rest defaulted."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each field's default (what the flags default to: written once, in the dataclass)."""
        out = {}
        for f in fields(cls):
            if f.default is not MISSING:
                out[f.name] = f.default
            elif f.default_factory is not MISSING:
                out[f.name] = f.default_factory()
        return out

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides: Any):
        values = {f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)}
        return cls(**{**values, **overrides})


def one_or_list(values):
    """``[x]`` -> ``x`` (one value for every segment/join), longer lists unchanged, ``None`` stays."""
    if values is None:
        return None
    values = list(values)
    return values[0] if len(values) == 1 else values


def json_or_file(text: str | None, flag: str, example: str) -> Any:
    """``--phases``: inline JSON, or the path of a JSON file."""
    if text is None:
        return None
    if not text.lstrip().startswith(("[", "{")):
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or "not UTF-8 text"
            raise PlanError(f"{flag} {str(path)!r} is neither JSON nor a readable JSON file ({reason}): "
                            f"give a file or inline JSON like {example}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"{flag} is not JSON (line {e.lineno}: {e.msg}): write it like {example}") from None
