"""What Segue's nodes hand back: a written file as a file-backed VIDEO with its history entry
(``segue_files``, the contract; plus core's preview keys so the frontend shows a final video on
the node), and the one-node runs' optional IMAGE output."""

from __future__ import annotations

from ..video_utils.core.folders import result_entry
from ..video_utils.core.prompt_graph import Graph, out
from ..video_utils.engine.executor import Written
from .api import ExecutionBlocker, io
from .video_adapters import file_video


def final_ui(relative: str, kind: str, frames: int) -> dict:
    """History/UI of a final video: ``segue_files`` (the contract) plus core's preview keys so the
    frontend shows the video on the node."""
    entry = result_entry(relative, kind, frames=frames)
    preview = result_entry(relative, kind)
    return {"segue_files": [entry], "images": [preview], "animated": [True]}


def final_output(written: Written, *more) -> io.NodeOutput:
    """A node that wrote a final video: the file as a VIDEO (then ``more`` outputs) and its history."""
    return io.NodeOutput(file_video(written.path), *more, ui=final_ui(written.relative, written.kind, written.frames))


def step_output(written: Written) -> io.NodeOutput:
    """A node that wrote a step's (or a segment's) lossless file: the VIDEO and its ``segue_files`` entry."""
    return io.NodeOutput(file_video(written.path),
                         ui={"segue_files": [result_entry(written.relative, written.kind, frames=written.frames)]})


def images_or_blocker(g: Graph, video, output_images: bool, node: str):
    """A one-node run's images output: the video's frames when asked for, else blocked."""
    if output_images:
        return out(g.add("frames", "GetVideoComponents", video=video), 0)
    return ExecutionBlocker(f"{node}: turn output_images on to use its images output "
                            f"(off by default so long videos are not decoded into RAM)")
