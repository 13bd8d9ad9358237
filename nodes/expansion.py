"""Plumbing of the expanding nodes (SegueTravel, SegueTravelSegment, SegueJoinClips, SegueExtendClip).

They build their graph with the one builder, ``video_utils.core.chains`` (the same code that builds
the orchestrator's prompts), and hand it to ComfyUI's node expansion with fresh id prefixes, so
sampling shows ComfyUI's own progress, honours Cancel and is cached node by node: re-running with
one segment's prompt changed re-uses every unchanged segment before it.

Models never pass through these nodes: the recipe node's model, VAE, CLIP and reference inputs
are *lazy* and never evaluated by it; the expanding node follows its ``recipe`` link in the
prompt (DYNPROMPT) to the SegueRecipe node and wires its core nodes to the loaders connected
there, so preview runs need no model and ComfyUI loads each model once, where it is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..video_utils.core.chains import Sources
from ..video_utils.core.constants import FILE_FOLDERS
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import prefix_folder, resolve_input
from ..video_utils.core.prompt_graph import Graph, is_link, load_template
from ..video_utils.core.recipe import Recipe
from ..video_utils.core.step_settings import EncodeSettings
from .api import expansion_prefix, folders, io
from .outputs import images_or_blocker

EXPAND_HIDDEN = [io.Hidden.unique_id, io.Hidden.dynprompt]
# The schema flags of an expanding node: it reads its own links in the running prompt, expands, and
# writes its video.
EXPANDING = dict(hidden=EXPAND_HIDDEN, enable_expand=True, is_output_node=True)
RECIPE_LINKS = {"model": "model", "model_low_noise": "model_low", "vae": "vae", "clip": "clip",
                "positive": "positive", "negative": "negative", "clip_vision": "clip_vision",
                "reference_image": "reference"}


def no_lazy_inputs(**kwargs) -> list[str]:
    """check_lazy_status of nodes whose lazy inputs are only wired through, never evaluated."""
    return []


def node_links(cls, node_id: str | None = None) -> dict:
    """The links (``[node_id, index]``) into a node of the running prompt, by input name
    (default: the running node itself)."""
    node = cls.hidden.dynprompt.get_node(node_id if node_id is not None else cls.hidden.unique_id)
    inputs = node.get("inputs", {})
    return {name: value for name, value in inputs.items() if is_link(value)}


def recipe_sources(cls, recipe: Recipe | None, what: str) -> tuple[Recipe, Sources]:
    """The recipe (default: the CPU preview) and the links its chains use, read from the
    SegueRecipe node connected to this node's ``recipe`` input."""
    if recipe is None:
        return Recipe(), Sources()
    link = node_links(cls).get("recipe")
    links: dict = {}
    if link is not None:
        source = cls.hidden.dynprompt.get_node(link[0])
        if source.get("class_type") != "SegueRecipe":
            raise PlanError(f"{what}: the recipe input must come straight from a Segue Recipe node, not from "
                            f"{source.get('class_type')}")
        links = node_links(cls, link[0])
    sources = Sources(**{field: links.get(name) for name, field in RECIPE_LINKS.items()},
                      template=load_user_template(recipe.template) if recipe.kind == "template" else None)
    check_sources(recipe, sources, what)
    return recipe, sources


def check_sources(recipe: Recipe, sources: Sources, what: str) -> None:
    """What a wan recipe needs connected, named (before anything runs)."""
    if sources.reference is not None and recipe.kind != "wan-vace":
        raise PlanError(f"{what}: reference_image is connected on the Segue Recipe node but only the wan-vace "
                        f"generator uses it (VACE's reference image): disconnect it or use wan-vace")
    if recipe.kind not in ("wan-vace", "wan-flf"):
        return
    missing = [n for n, v in (("model", sources.model), ("vae", sources.vae)) if v is None]
    if sources.clip is None and (sources.positive is None or sources.negative is None):
        missing.append("clip (or positive and negative)")
    if missing:
        raise PlanError(f"{what}: generator {recipe.kind} needs {', '.join(missing)} connected on the Segue Recipe "
                        f"node: connect the Wan model loaders, or set its generator to preview")
    recipe.validate("recipe", has_low=sources.model_low is not None)


def load_user_template(name: str) -> dict:
    """A template graph from ComfyUI's input/ folder (or ``name [output]``), confined there."""
    return load_template(resolve_input(name, folders(), "template", extensions=(".json",)))


def expand(graph: Graph, *results) -> tuple[list, dict]:
    """``graph`` as a node expansion: ids prefixed (unique per call), internal links rewritten;
    links to nodes outside it (the user's loaders) pass through.  Returns the rewritten
    ``results`` (links into the graph, or other values) and the expansion dict."""
    prefix = expansion_prefix()
    own = set(graph.nodes)

    def rewrite(value):
        if is_link(value) and value[0] in own:
            return [prefix + value[0], value[1]]
        return value

    expansion = {prefix + node_id: {**node, "inputs": {k: rewrite(v) for k, v in node["inputs"].items()}}
                 for node_id, node in graph.nodes.items()}
    return [rewrite(r) for r in results], expansion


# --- one-node runs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OneNodeRun:
    """What a one-node run (travel, join, extension) checked before it expands: its recipe and
    the links its chains use, its final video's settings, and where its step files go (temp/,
    or output/ to keep them)."""

    recipe: Recipe
    sources: Sources
    encode: EncodeSettings
    folder: str


def one_node_run(cls, node: str, recipe: Recipe | None, items: int, what: str, *, curve: str, sharpen: float,
                 crf: int, preset: str, filename_prefix: str, keep_segments: bool) -> OneNodeRun:
    """The checks every one-node run makes before anything is expanded or generated: the final
    video's settings and name (a bad prefix never costs a generated segment), the recipe against
    ``items`` steps (``what``: "segments", "joins")."""
    encode = EncodeSettings(curve, float(sharpen), int(crf), preset, filename_prefix=filename_prefix).check()
    prefix_folder(filename_prefix, folders(), "filename_prefix")
    recipe, sources = recipe_sources(cls, recipe, node)
    recipe.check_items(items, what)
    return OneNodeRun(recipe, sources, encode, FILE_FOLDERS[1] if keep_segments else FILE_FOLDERS[0])


def expanded_video(g: Graph, video, output_images: bool, node: str) -> io.NodeOutput:
    """A one-node run's outputs (its final VIDEO, then its images when asked for) as a node expansion."""
    images = images_or_blocker(g, video, output_images, node)
    (video, images), expansion = expand(g, video, images)
    return io.NodeOutput(video, images, expand=expansion)
