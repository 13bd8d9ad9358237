"""The design's rules, kept by tests rather than by habit.

* ``video_utils/core`` and the whole orchestrator import (and plan) with torch and OpenCV blocked:
  the no-torch seam is a package boundary, not a convention.
* A node file imports shared modules and the engine, never another node file.
* The local executor runs the graph builder's prompts: the whole run as one prompt (the graph a
  one-node travel expands into) gives the per-step prompts' video byte for byte, and anything
  that needs a ComfyUI server is refused by name.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

BLOCK = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'cv2', 'comfy', 'comfy_api', 'folder_paths'):
            raise ImportError(f'{name} is blocked: the core and the orchestrator must not need it')
sys.meta_path.insert(0, Blocked())
"""


def modules(package: str) -> list[str]:
    root = REPO.joinpath(*package.split("."))
    return [package + "." + ".".join(p.relative_to(root).with_suffix("").parts)
            for p in sorted(root.rglob("*.py")) if p.name != "__main__.py"]


def test_the_core_and_the_orchestrator_import_and_plan_with_torch_blocked(tmp_path):
    names = [m.removesuffix(".__init__") for m in modules("video_utils.core") + modules("orchestration")]
    code = BLOCK + "\n".join(f"import segue.{m}" for m in names) + """
from segue.orchestration import TravelRun
from segue.orchestration.cli import main
run = TravelRun(images=['a.png', 'b.png', 'c.png'], segment_frames=[40, 56], overlap=8)
plan = run.plan()
assert plan.total_frames == plan.keyframe_frames[-1] + 1 and abs(plan.keyframe_frames[-1] - 96) <= 2
assert main(['plan', 'join', '--clips', '100', '100']) == 0
print('ok', len(sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
    assert len(names) > 40


def test_no_node_file_imports_another():
    problems = []
    for path in sorted((REPO / "nodes").glob("*_nodes.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [node.module] if node.module else [a.name for a in node.names]
                problems += [f"{path.name} imports {t}" for t in targets if t.endswith("_nodes")]
    assert not problems, problems


# --- the local executor runs the builder's prompts --------------------------------------------------

@pytest.fixture
def travel(tmp_path):
    import cv2

    from segue.orchestration.runs import TravelRun
    sys.path.insert(0, str(Path(__file__).parent))
    import media
    images = []
    for i in range(3):
        images.append(str(tmp_path / f"k{i}.png"))
        cv2.imwrite(images[-1], media.picture(i * 5, 64, 48)[..., ::-1])
    return TravelRun(images=images, segment_frames=12, overlap=4, run_id="layout", preset="ultrafast",
                     out=str(tmp_path / "steps.mp4"))


def test_the_whole_run_as_one_prompt_gives_the_per_step_video(travel, tmp_path):
    """The local renderer runs one prompt per step; the executor follows any prompt's links, so
    the detached prompt (every segment and the stitch in one graph, as a one-node travel
    expands) must give the same bytes."""
    from segue.orchestration.runs.prompts import detached_prompt
    from segue.orchestration.server.local import _stage_inputs, render_locally
    from segue.video_utils.core.folders import Folders
    from segue.video_utils.engine.executor import Executor

    plan = travel.validate()
    per_step = render_locally(travel, plan)
    folders = Folders(*(str(tmp_path / "one" / k) for k in ("input", "output", "temp")))
    names = _stage_inputs(travel, folders)
    outputs = Executor(folders).run(detached_prompt(travel, plan, names))
    [final] = [v[0] for k, v in outputs.items() if k == "stitch"]
    assert Path(final).read_bytes() == per_step.read_bytes()


def test_a_prompt_that_needs_a_server_is_refused_by_name(travel, tmp_path):
    from segue.orchestration.runs import GeneratorConfig
    from segue.orchestration.runs.prompts import step_prompt
    from segue.orchestration.runs.steps import run_steps
    from segue.video_utils.core.errors import PlanError
    from segue.video_utils.core.folders import Folders
    from segue.video_utils.engine.executor import Executor

    travel.generator = GeneratorConfig.from_name("wan21-vace", unet="u.safetensors", vae="v.safetensors",
                                                 clip="c.safetensors")
    plan = travel.validate(check_files=False)
    prompt = step_prompt(travel, plan, run_steps(plan)[0], ["k0.png [input]", "k1.png [input]", "k2.png [input]"])
    folders = Folders(*(str(tmp_path / k) for k in ("input", "output", "temp")))
    with pytest.raises(PlanError, match=r"KSampler does not run on this machine .*--server URL"):
        Executor(folders).run(prompt)
