"""Segue's own step nodes without ComfyUI: what each one does, and an in-process executor that
runs the graph builder's step prompts with them.

A run is a sequence of step prompts (``core.chains``: the orchestrator's per-step prompts, the
same graphs the one-node travel/join/extend expand into).  With the CPU preview generator every
node of those prompts is one of Segue's own: loading the keyframes, describing a step, filling
and saving it, listing files, stitching or assembling the final video.  Each is written here
once, ComfyUI-free, as a function of the node's inputs and a ``NodeContext`` (the folders names
resolve in, a progress factory):

* the ComfyUI nodes (``nodes/``) call these with ComfyUI's folders and progress bar, and wrap
  what they return in ComfyUI types (a file-backed VIDEO for a path);
* ``Executor`` runs a prompt of these nodes on this machine (a VIDEO is a file path here), which
  is how ``segue travel/join/extend`` render without a server: the same prompts, the same node
  code, so the same bytes.

A prompt that needs anything else (a Wan model's loaders and samplers, a template's nodes) is
refused by name: it needs a ComfyUI server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..core.constants import (CONFORM_FIT_MODES, DEFAULT_CURVE, DEFAULT_FIT, DEFAULT_GAP_AUDIO, DEFAULT_PREVIEW_METHOD,
                              DEFAULT_RETIME, FILE_FOLDERS, PREVIEW_METHODS, VIDEO_EXTENSIONS)
from ..core.errors import PlanError
from ..core.folders import (Folders, clip_paths, final_target, image_paths, resolve_input, step_target,
                            to_annotated)
from ..core.lengths import as_fps
from ..core.parse import int_list, lines
from ..core.prompt_graph import is_link
from ..core.recipe import check_choice
from ..core.sizes import wan_size
from ..core.step_settings import (EncodeSettings, ExtendStepSettings, JoinStepSettings, PostSettings, TravelDelivery,
                                  TravelStepSettings)
from ..core.travel_plan import boundary_overlaps
from .conform import conform_keyframes, load_image
from .delivery import stitch_files
from .extend_assembly import assemble_extend_files, extend_soundtrack
from .join_assembly import assemble_join_files, join_soundtrack
from .postprocess import finish_frames
from .preview_generator import preview_generate
from .steps import ExtendStep, JoinStep, TravelStep, extend_step, join_step, travel_step
from .video_write import LOSSLESS_CODEC, write_video

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class NodeContext:
    """Where a node's file names resolve (ComfyUI's input/output/temp folders, or the executor's)
    and how it reports progress: ``progress(total)`` gives a ``(done, total)`` callback (ComfyUI's
    bar honours Cancel through it)."""

    folders: Folders
    progress: Callable[[int], Progress] = lambda total: (lambda done, n=None: None)


@dataclass(frozen=True)
class Written:
    """A file a node wrote: its path, folder kind and relative name (the history entry), frames."""

    path: str
    kind: str
    relative: str
    frames: int


# --- loading ----------------------------------------------------------------------------------------

def load_images(ctx: NodeContext, images: str, width: int, height: int, fit: str) -> torch.Tensor:
    """``SegueLoadImages``: the named images, conformed to one Wan size (0 x 0: the first image's)."""
    check_choice(fit, CONFORM_FIT_MODES, "fit")
    if bool(width) != bool(height):
        raise PlanError(f"width={width}, height={height}: give both, or 0 for both to use the first image's size")
    paths = image_paths(images, ctx.folders)
    bar = ctx.progress(len(paths))
    loaded = []
    for i, path in enumerate(paths):
        loaded.append(load_image(path))
        bar(i + 1, len(paths))
    return conform_keyframes(loaded, wan_size(width, height) if width and height else None, fit)


def video_file(ctx: NodeContext, video: str) -> str:
    """The file a ``SegueLoadVideo`` names (its VIDEO output)."""
    return resolve_input(video, ctx.folders, "video", extensions=VIDEO_EXTENSIONS)


def file_list(name: str, files: str | None = None) -> str:
    """``SegueFileList``: the list ``files`` with the annotated ``name`` appended."""
    return "\n".join(lines(files, "files", required=False) + [name])


# --- steps ------------------------------------------------------------------------------------------

def travel_step_node(ctx: NodeContext, keyframes: torch.Tensor, segment_index: int, previous_path: str | None = None,
                     first_path: str | None = None, **settings) -> TravelStep:
    """``SegueTravelStep``."""
    return travel_step(keyframes, segment_index, TravelStepSettings.from_inputs(settings), previous_path, first_path)


def join_step_node(ctx: NodeContext, clip_files: str, join_index: int, **settings) -> JoinStep:
    """``SegueJoinStep``: the clips by name, planned at their output rate."""
    names, paths = clip_paths(clip_files, ctx.folders)
    return join_step(paths, names, join_index, JoinStepSettings.from_inputs(settings))


def extend_step_node(ctx: NodeContext, clip_file: str, segment_index: int, keyframes: torch.Tensor | None = None,
                     previous_files: str = "", previous_path: str | None = None, **settings) -> ExtendStep:
    """``SegueExtendStep``: the earlier segments' files by name (``previous_files``) or one path."""
    names = lines(previous_files, "previous_files", required=False)
    if names and previous_path is not None:
        raise PlanError("previous_files and previous_video are both connected: connect one (previous_files "
                        "lists every earlier segment)")
    previous = [resolve_input(n, ctx.folders, "previous_files", extensions=VIDEO_EXTENSIONS) for n in names]
    if previous_path is not None:
        previous = [previous_path]
    return extend_step(clip_input(ctx, clip_file), segment_index, ExtendStepSettings.from_inputs(settings), previous,
                       keyframes)


def clip_input(ctx: NodeContext, clip_file: str) -> str:
    return resolve_input(clip_file, ctx.folders, "clip_file", extensions=VIDEO_EXTENSIONS)


# --- a step's file ----------------------------------------------------------------------------------

def save_step(ctx: NodeContext, frames: torch.Tensor, step, filename: str, folder: str, **post) -> Written:
    """``SegueSaveStep`` (and the end of ``SeguePreviewStep``): the frames checked against the plan,
    trimmed and colour-corrected (``postprocess.finish_frames``), saved losslessly."""
    finished = finish_frames(frames, step, PostSettings.from_inputs(post))
    if not filename.strip():
        check_choice(folder, FILE_FOLDERS, "folder")
    path, kind, relative = step_target(filename, folder, ctx.folders)
    count = int(finished.shape[0])
    write_video(path, finished, step.fps, codec=LOSSLESS_CODEC, progress=ctx.progress(count))
    return Written(path, kind, relative, count)


def preview_step(ctx: NodeContext, step, method: str = DEFAULT_PREVIEW_METHOD, filename: str = "",
                 folder: str = FILE_FOLDERS[0], **post) -> Written:
    """``SeguePreviewStep``: the CPU preview generator fills the step, then ``save_step``."""
    check_choice(method, PREVIEW_METHODS, "method")
    guide, masks = step.guide()
    frames = preview_generate(guide, masks, method=method, progress=ctx.progress(int(guide.shape[0])))
    del guide, masks
    return save_step(ctx, frames, step, filename, folder, **post)


# --- the final video --------------------------------------------------------------------------------

def stitch_segment_files(ctx: NodeContext, segment_files: str, overlaps: str, trim_start: int, curve: str,
                         sharpen: float, fps: float, filename: str, crf: int, preset: str, filename_prefix: str = "",
                         output_fps: float = 0.0, width: int = 0, height: int = 0, retime: str = DEFAULT_RETIME,
                         loop: bool = False, soundtrack: str = "", fit: str = DEFAULT_FIT, after=None) -> Written:
    """``SegueStitchFiles``: the segment files cross-faded into one H.264 MP4, delivered
    (``after``, on the final nodes, only orders a run)."""
    encode = EncodeSettings(curve, float(sharpen), int(crf), preset, filename, filename_prefix).check()
    paths = [resolve_input(n, ctx.folders, "segment_files") for n in lines(segment_files, "segment_files")]
    bounds = boundary_overlaps(int_list(overlaps, "overlaps", minimum=0), len(paths), "overlaps")
    delivery = TravelDelivery(float(output_fps), int(width), int(height), retime, bool(loop), str(soundtrack or ""),
                              fit).check()
    sound = resolve_input(soundtrack, ctx.folders, "soundtrack") if delivery.soundtrack.strip() else None
    path, kind, relative = final_target(filename, filename_prefix, ctx.folders)
    written = stitch_files(paths, bounds, path, fps=as_fps(fps), trim_start=int(trim_start), encode=encode,
                           delivery=delivery, soundtrack=sound, progress=ctx.progress(1))
    return Written(path, kind, relative, written)


def assemble_joined_files(ctx: NodeContext, clip_files: str, transition_files: str, filename: str, crf: int,
                          preset: str, keep_audio: bool, filename_prefix: str = "",
                          gap_audio: str = DEFAULT_GAP_AUDIO, curve: str = DEFAULT_CURVE, sharpen: float = 0.0,
                          after=None, **settings) -> Written:
    """``SegueJoinAssembleFiles``: the clips and their transitions, re-planned from the same join
    settings, assembled into one MP4 with every clip's sound."""
    encode = EncodeSettings(curve, float(sharpen), int(crf), preset, filename, filename_prefix).check()
    names, clips = clip_paths(clip_files, ctx.folders)
    transitions = [resolve_input(n, ctx.folders, "transition_files")
                   for n in lines(transition_files, "transition_files")]
    join = JoinStepSettings.from_inputs({**settings, "gap_audio": gap_audio})
    fmt = join.format(clips)
    plan = join.plan(clips, names, fmt)
    audio = join_soundtrack(clips, plan, join.gap_audio) if keep_audio else None
    path, kind, relative = final_target(filename, filename_prefix, ctx.folders)
    written = assemble_join_files(clips, transitions, plan, path, size=(fmt.width, fmt.height), fit=join.fit,
                                  retime=join.retime, audio=audio, curve=encode.curve, sharpen=encode.sharpen,
                                  crf=encode.crf, preset=encode.preset, progress=ctx.progress(1))
    return Written(path, kind, relative, written)


def assemble_extended_file(ctx: NodeContext, clip_file: str, segment_files: str, keyframe_count: int, filename: str,
                           crf: int, preset: str, keep_audio: bool, filename_prefix: str = "",
                           curve: str = DEFAULT_CURVE, sharpen: float = 0.0, after=None, **settings) -> Written:
    """``SegueExtendAssemble``: the clip's frames, then every segment's new frames, one MP4."""
    encode = EncodeSettings(curve, float(sharpen), int(crf), preset, filename, filename_prefix).check()
    clip_path = clip_input(ctx, clip_file)
    segments = [resolve_input(n, ctx.folders, "segment_files", extensions=VIDEO_EXTENSIONS)
                for n in lines(segment_files, "segment_files")]
    plan = ExtendStepSettings.from_inputs(settings).plan(clip_path, keyframe_count)
    audio = extend_soundtrack(clip_path, plan) if keep_audio else None
    path, kind, relative = final_target(filename, filename_prefix, ctx.folders)
    written = assemble_extend_files(clip_path, segments, plan, path, audio=audio, curve=encode.curve,
                                    sharpen=encode.sharpen, crf=encode.crf, preset=encode.preset,
                                    progress=ctx.progress(1))
    return Written(path, kind, relative, written)


# --- the executor -----------------------------------------------------------------------------------
# What each node does with the executor's inputs (a VIDEO is a file path here) and returns (its
# outputs in order; outputs a step prompt never links, such as SegueLoadVideo's frames, are None).

def _load_video(ctx, video, start=0, frame_count=0, last_frames=0) -> tuple:
    return None, None, None, video_file(ctx, video), None


def _travel_step(ctx, previous_video=None, first_video=None, **inputs) -> tuple:
    return travel_step_node(ctx, previous_path=previous_video, first_path=first_video, **inputs),


def _extend_step(ctx, previous_video=None, **inputs) -> tuple:
    return extend_step_node(ctx, previous_path=previous_video, **inputs),


def _written(body) -> Callable[..., tuple]:
    """A node that writes one file and outputs it as a VIDEO."""
    return lambda ctx, **inputs: (body(ctx, **inputs).path,)


NODES: dict[str, Callable[..., tuple]] = {
    "SegueLoadImages": lambda ctx, **inputs: (load_images(ctx, **inputs),),
    "SegueLoadVideo": _load_video,
    "SegueTravelStep": _travel_step,
    "SegueJoinStep": lambda ctx, **inputs: (join_step_node(ctx, **inputs),),
    "SegueExtendStep": _extend_step,
    "SeguePreviewStep": _written(preview_step),
    "SegueFileList": lambda ctx, video, files=None: (file_list(to_annotated(video, ctx.folders), files),),
    "SegueStitchFiles": _written(stitch_segment_files),
    "SegueJoinAssembleFiles": _written(assemble_joined_files),
    "SegueExtendAssemble": _written(assemble_extended_file),
}


class Executor:
    """Runs prompts of Segue's step nodes in this process, in dependency order; ``node(label)``
    is called as each node starts (its title, or its class)."""

    def __init__(self, folders: Folders, progress: Callable[[int], Progress] | None = None,
                 node: Callable[[str], None] | None = None):
        self.ctx = NodeContext(folders, progress) if progress else NodeContext(folders)
        self.node = node or (lambda node_id: None)

    def run(self, prompt: dict) -> dict[str, tuple]:
        """Execute ``prompt`` (API format); returns every node's outputs by node id."""
        problems = check_prompt(prompt)
        if problems:
            raise PlanError("\n".join(problems))
        outputs: dict[str, tuple] = {}
        for node_id in _order(prompt):
            node = prompt[node_id]
            inputs = {name: outputs[str(v[0])][int(v[1])] if is_link(v) else v
                      for name, v in node.get("inputs", {}).items()}
            self.node((node.get("_meta") or {}).get("title") or node["class_type"])
            outputs[node_id] = NODES[node["class_type"]](self.ctx, **inputs)
        return outputs


def check_prompt(prompt: dict) -> list[str]:
    """Why ``prompt`` cannot run here, one line per node (nothing: it can)."""
    problems = []
    for node_id, node in prompt.items():
        cls = node.get("class_type")
        if cls not in NODES:
            problems.append(f"node {node_id}: {cls} does not run on this machine (only Segue's own step nodes with "
                            f"the preview generator do): run it on a ComfyUI server (--server URL)")
    return problems


def _order(prompt: dict) -> list[str]:
    """Node ids in dependency order (links first); a cycle is refused."""
    done: list[str] = []
    state: dict[str, str] = {}

    def visit(node_id: str) -> None:
        if state.get(node_id) == "done":
            return
        if state.get(node_id) == "visiting":
            raise PlanError(f"node {node_id} depends on itself: the prompt has a cycle")
        state[node_id] = "visiting"
        for value in prompt[node_id].get("inputs", {}).values():
            if is_link(value):
                if str(value[0]) not in prompt:
                    raise PlanError(f"node {node_id} links to node {value[0]!r}, which is not in the prompt")
                visit(str(value[0]))
        state[node_id] = "done"
        done.append(node_id)

    for node_id in prompt:
        visit(node_id)
    return done
