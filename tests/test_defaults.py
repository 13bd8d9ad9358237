"""One set of plan defaults (``video_utils.core.constants``) on every path: the run models (plan
files), the command line's flags, the graph builder's step settings (the node and server
prompts) and the planners.  The nodes' widgets are checked against the same constants inside a
real ComfyUI (test_comfyui_nodes.py::test_widget_defaults_are_the_shared_constants)."""

from __future__ import annotations

from segue.orchestration.cli import build_parser
from segue.orchestration.runs.join import JoinRun
from segue.orchestration.runs.models import run_from_dict
from segue.orchestration.cli.build import join_run, travel_run
from segue.orchestration.runs.travel import TravelRun
from segue.video_utils.core import constants as C
from segue.video_utils.core.step_settings import JoinStepSettings, TravelDelivery, TravelStepSettings
from segue.video_utils.core.join_plan import plan_join


def test_run_models_and_plan_files_default_to_the_constants():
    travel = run_from_dict({"kind": "travel", "images": ["a.png", "b.png"]}, warnings=[])
    assert (travel.segment_frames, travel.overlap, travel.fit, travel.retime) == \
        (C.DEFAULT_SEGMENT_FRAMES, C.DEFAULT_OVERLAP, C.DEFAULT_FIT, C.DEFAULT_RETIME)
    join = run_from_dict({"kind": "join", "clips": ["a.mp4", "b.mp4"]}, warnings=[])
    assert (join.context, join.gap, join.prompt, join.fit, join.retime, join.gap_audio) == \
        (C.DEFAULT_JOIN_CONTEXT, C.DEFAULT_JOIN_GAP, C.DEFAULT_JOIN_PROMPT, C.DEFAULT_FIT, C.DEFAULT_RETIME,
         C.DEFAULT_GAP_AUDIO)
    assert isinstance(travel, TravelRun) and isinstance(join, JoinRun)


def test_command_line_defaults_are_the_run_models():
    parser = build_parser()
    ns = parser.parse_args(["travel", "a.png", "b.png", "--frames", "40", "--out", "o.mp4"])
    assert ns.overlap == [C.DEFAULT_OVERLAP]
    assert (ns.fit, ns.retime) == (None, C.DEFAULT_RETIME)   # None: not given
    travel = travel_run(ns)
    assert (travel.fit, travel.mode, travel.crf, travel.preset, travel.curve) == \
        (C.DEFAULT_FIT, C.DEFAULT_TRAVEL_MODE, C.DEFAULT_CRF, C.DEFAULT_PRESET, C.DEFAULT_CURVE)
    demo = parser.parse_args(["demo"])
    assert demo.frames == [C.DEFAULT_SEGMENT_FRAMES] and demo.overlap == [C.DEFAULT_OVERLAP]
    ns = parser.parse_args(["join", "a.mp4", "b.mp4", "--out", "o.mp4"])
    assert (ns.context, ns.gap) == (C.DEFAULT_JOIN_CONTEXT, C.DEFAULT_JOIN_GAP)
    join = join_run(ns)
    assert join.fit == C.DEFAULT_FIT
    assert (join.fps, join.work_width, join.retime, join.gap_audio) == (0.0, 0, C.DEFAULT_RETIME, C.DEFAULT_GAP_AUDIO)
    plan = parser.parse_args(["plan", "join", "--clips", "100", "100"])
    assert (plan.context, plan.gap) == (C.DEFAULT_JOIN_CONTEXT, C.DEFAULT_JOIN_GAP)


def test_step_settings_and_planner_default_to_the_constants():
    travel = TravelStepSettings()
    assert (travel.segment_frames, travel.overlap) == (str(C.DEFAULT_SEGMENT_FRAMES), str(C.DEFAULT_OVERLAP))
    assert TravelDelivery().retime == C.DEFAULT_RETIME
    join = JoinStepSettings()
    assert (join.context, join.gap, join.fit, join.retime, join.gap_audio) == \
        (C.DEFAULT_JOIN_CONTEXT, C.DEFAULT_JOIN_GAP, C.DEFAULT_FIT, C.DEFAULT_RETIME, C.DEFAULT_GAP_AUDIO)
    spec = plan_join([200, 200]).joins[0]
    assert (spec.context_frames_a, spec.gap_frames) == (C.DEFAULT_JOIN_CONTEXT, C.DEFAULT_JOIN_GAP)
