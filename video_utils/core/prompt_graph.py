"""ComfyUI API-format graphs as plain dicts: nodes, links, and the user's template graphs.

The one graph representation of Segue: ``video_utils.core.chains`` writes every chain into a
``Graph``; the orchestrator sends ``graph.prompt()`` to ``/prompt`` as is, and the one-node
travel/join hands the same dict to ComfyUI's node expansion (``nodes.expansion.expand``), which
only prefixes the ids.  Format rules: string node ids, links ``[id, output_index]``, only
declared inputs (``None`` values are left out), JSON booleans, ``_meta.title`` for labels.

Templates are API-format prompts (Workflow > Export (API)) in which a ``SegueGuideSlot`` marks
where the guide enters and a ``SegueFramesSlot`` where the generated frames leave.  String values
``{{prompt}}``, ``{{negative_prompt}}``, ``{{seed}}`` and ``{{index}}`` are filled per item (a value
that is exactly ``{{seed}}`` or ``{{index}}`` becomes a number).  Pure standard library.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Mapping

from .errors import PlanError

Link = list  # [node_id: str, output_index: int]
GUIDE_SLOT = "SegueGuideSlot"
FRAMES_SLOT = "SegueFramesSlot"


def out(node_id: str, index: int) -> Link:
    return [node_id, index]


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)) \
        and isinstance(value[1], int) and not isinstance(value[1], bool)


class Graph:
    """Named nodes with ``[id, index]`` links; ``shared`` adds a node once per identical inputs."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}
        self._shared: dict[str, str] = {}

    def add(self, node_id: str, class_type: str, title: str | None = None, **inputs: Any) -> str:
        if node_id in self.nodes:
            raise ValueError(f"duplicate node id {node_id!r}")
        node: dict[str, Any] = {"class_type": class_type,
                                "inputs": {k: v for k, v in inputs.items() if v is not None}}
        if title:
            node["_meta"] = {"title": title}
        self.nodes[node_id] = node
        return node_id

    def shared(self, node_id: str, class_type: str, **inputs: Any) -> str:
        """The node ``class_type(**inputs)``, added under ``node_id`` (or ``node_id_2``, ...) the
        first time and reused after: loaders, text encodes and LoRA chains appear once per graph."""
        key = json.dumps([class_type, inputs], sort_keys=True)
        if key not in self._shared:
            unique, n = node_id, 1
            while unique in self.nodes:
                n += 1
                unique = f"{node_id}_{n}"
            self._shared[key] = self.add(unique, class_type, **inputs)
        return self._shared[key]

    def prompt(self) -> dict:
        return self.nodes


# --- templates -----------------------------------------------------------------------------------

def load_template(path: str | Path) -> dict:
    """Read and check an API-format template file (one guide slot, one frames slot)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise PlanError(f"template {str(path)!r} cannot be read ({e.strerror}): check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PlanError(f"template {str(path)!r} is not JSON ({e}): export it with Workflow > Export (API)") from None
    check_template(data, str(path))
    return data


def check_template(data: Any, label: str = "template") -> None:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        raise PlanError(f"{label} is a UI workflow, not an API-format prompt: in ComfyUI use "
                        f"Workflow > Export (API) and pass that file")
    if not isinstance(data, dict) or not data or \
            not all(isinstance(n, dict) and isinstance(n.get("class_type"), str) for n in data.values()):
        raise PlanError(f"{label} is not an API-format prompt (an object of node id -> "
                        f"{{\"class_type\", \"inputs\"}}): export it with Workflow > Export (API)")
    for slot, what in ((GUIDE_SLOT, "where the guide enters (its outputs feed WanVaceToVideo)"),
                       (FRAMES_SLOT, "where the generated frames leave (after VAEDecode)")):
        count = sum(1 for n in data.values() if n["class_type"] == slot)
        if count != 1:
            raise PlanError(f"{label} has {count} {slot} nodes: it needs exactly one, {what}")
    frames = next(n for n in data.values() if n["class_type"] == FRAMES_SLOT)
    images = (frames.get("inputs") or {}).get("images")
    if not is_link(images) or str(images[0]) not in data:
        raise PlanError(f"{label}: the {FRAMES_SLOT} node's images input must be linked to the node that "
                        f"makes the frames (e.g. VAEDecode)")


def splice_template(g: Graph, template: dict, guide: str, prefix: str, values: Mapping[str, Any]) -> Link:
    """Copy the template's nodes into ``g`` (ids ``<prefix>tpl.<id>``), its guide slot's outputs
    replaced by node ``guide``'s; returns the link of the frames the frames slot received."""
    slot_id = next(k for k, n in template.items() if n["class_type"] == GUIDE_SLOT)
    frames_id = next(k for k, n in template.items() if n["class_type"] == FRAMES_SLOT)

    def rewire(value: Any) -> Any:
        if is_link(value):
            src = str(value[0])
            if src == slot_id:
                return out(guide, int(value[1]))
            if src == frames_id or src not in template:
                raise PlanError(f"template links to node {src!r}, which it does not contain (or to the frames slot)")
            return out(f"{prefix}tpl.{src}", int(value[1]))
        if isinstance(value, str):
            return _fill(value, values)
        return copy.deepcopy(value)

    for node_id, node in template.items():
        if node_id in (slot_id, frames_id):
            continue
        inputs = {name: rewire(v) for name, v in (node.get("inputs") or {}).items()}
        g.add(f"{prefix}tpl.{node_id}", node["class_type"], title=(node.get("_meta") or {}).get("title"), **inputs)
    return rewire(template[frames_id]["inputs"]["images"])


def _fill(text: str, values: Mapping[str, Any]) -> Any:
    for key in ("seed", "index"):
        if text == "{{" + key + "}}":
            return int(values[key])
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    return text
