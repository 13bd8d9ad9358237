"""The steps of a run and the exact file each one writes.

One step = one ``/prompt``: a travel segment (``seg_NNN``), a join transition (``trans_NNN``), an
extension segment (``ext_NNN``) or the final stitch/assembly (``final``).  Every step's output file name is fixed in advance
(``output/segue/<run_id>/<step>.<ext>`` on the server, ``<run_dir>/<step>.<ext>`` locally), so a
later step, ``segue status`` and ``segue resume`` all find it without asking the server's history.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...video_utils.core.constants import FINAL_SUFFIX, LOSSLESS_SUFFIX
from ...video_utils.core.extend_plan import ExtendPlan
from ...video_utils.core.join_plan import JoinPlan
from ...video_utils.core.travel_plan import TravelPlan

# Step files: SegueSaveStep / SeguePreviewStep write lossless Matroska (LOSSLESS_SUFFIX), the final
# step (SegueStitchFiles, SegueJoinAssembleFiles, SegueExtendAssemble) H.264 MP4 (FINAL_SUFFIX).
FINAL = "final"


@dataclass(frozen=True)
class StepSpec:
    id: str                      # "seg_000", "trans_002", "ext_001", "final"
    kind: str                    # "segment" | "transition" | "extension" | "final"
    index: int                   # segment / join index; -1 for final
    depends_on: tuple[str, ...]  # step ids whose output files this step reads
    file: str                    # output file name ("seg_000.mkv"), same in the run dir and on the server
    frames: int                  # frames the output must hold

    @property
    def stem(self) -> str:
        return self.file.rsplit(".", 1)[0]


def server_folder(run_id: str) -> str:
    """Subfolder (of output/ and input/) that holds one run's files on a server."""
    return f"segue/{run_id}"


def server_filename(run_id: str, step: StepSpec) -> str:
    """``filename`` input of the saving node: path under output/ without extension."""
    return f"{server_folder(run_id)}/{step.stem}"


def annotated_output(run_id: str, file: str) -> str:
    """Core's annotated-name convention for a file under output/ (what Segue's loaders read)."""
    return f"{server_folder(run_id)}/{file} [output]"


def segment_id(i: int) -> str:
    return f"seg_{i:03d}"


def transition_id(j: int) -> str:
    return f"trans_{j:03d}"


def extension_id(i: int) -> str:
    return f"ext_{i:03d}"


def travel_steps(plan: TravelPlan) -> list[StepSpec]:
    """Segments (chained: each needs the previous one's file; a loop's closing segment also
    segment 0's) then the stitch.  A segment's file holds its ``kept_frames``: segment 0's lead-in
    and a closing segment's seam frames are dropped when it is saved."""
    steps = []
    for s in plan.segments:
        deps = tuple(segment_id(d) for d in plan.dependencies(s.index))
        steps.append(StepSpec(segment_id(s.index), "segment", s.index, deps,
                              segment_id(s.index) + LOSSLESS_SUFFIX, s.kept_frames))
    steps.append(StepSpec(FINAL, "final", -1, tuple(st.id for st in steps), FINAL + FINAL_SUFFIX,
                          plan.output_total_frames))    # the stitch delivered at the run's rate
    return steps


def join_steps(plan: JoinPlan) -> list[StepSpec]:
    """Transitions (all independent: they only read original clips; each file holds the
    generated frames at the generation rate) then the assembly."""
    steps = [StepSpec(transition_id(j.index), "transition", j.index, (), transition_id(j.index) + LOSSLESS_SUFFIX,
                      j.generation_frames) for j in plan.joins]
    steps.append(StepSpec(FINAL, "final", -1, tuple(st.id for st in steps), FINAL + FINAL_SUFFIX,
                          plan.total_frames))
    return steps


def extend_steps(plan: ExtendPlan) -> list[StepSpec]:
    """Extension segments (each continues the video so far: it reads every earlier segment's
    file, and its file holds its blend frames plus its new frames) then the assembly."""
    steps = []
    for s in plan.segments:
        deps = tuple(extension_id(k) for k in range(s.index))
        steps.append(StepSpec(extension_id(s.index), "extension", s.index, deps,
                              extension_id(s.index) + LOSSLESS_SUFFIX,
                              s.blend_frames + s.new_frames))
    steps.append(StepSpec(FINAL, "final", -1, tuple(st.id for st in steps), FINAL + FINAL_SUFFIX, plan.total_frames))
    return steps


def run_steps(plan) -> list[StepSpec]:
    """The steps of any frame plan."""
    if isinstance(plan, TravelPlan):
        return travel_steps(plan)
    if isinstance(plan, JoinPlan):
        return join_steps(plan)
    return extend_steps(plan)
