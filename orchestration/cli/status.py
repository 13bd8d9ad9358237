"""``segue status``: what a run directory holds, in words and a frame table.

Each step's state, server and checksum from the manifest (asking the step's server about steps
in flight, unless offline), then the frame plan as a table (the same table ``segue plan``
prints).  ``run_dirs`` finds run directories among the paths given (a folder of them: all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import ServerUnreachable
from ..runs.steps import server_folder
from ..server.client import ComfyClient
from ..server.manifest import Manifest


def run_dirs(paths: Sequence[Path]) -> list[Path]:
    """Run directories named, or found one level inside folders named."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if Manifest.exists(path):
            found.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if Manifest.exists(p)) if path.is_dir() else []
        if not inside:
            Manifest.load(path)               # the "not a run directory" error
        found.extend(inside)
    return found


def status_lines(manifest: Manifest, live: bool = True, table: bool = True) -> list[str]:
    """``segue status``: the run, each step (asking its server when ``live``), the frame table."""
    data = manifest.data
    lines = [f"run {manifest.run_id} ({data['kind']}): {data.get('status', '?')}  [{manifest.run_dir}]"]
    if data.get("detached"):
        lines.append(f"detached on {data['detached']['server']}: prompts {', '.join(data['detached']['prompts'])}")
    clients: dict[str, ComfyClient] = {}
    lines.append(f"{'step':<10} {'state':<10} {'server':<22} {'frames':>6}  detail")
    for step in manifest.ordered():
        detail = step.error or ""
        state = step.state
        if step.state == "done":
            detail = f"sha256 {step.sha256[:12]}" + ("" if manifest.verify(step.id) else "  (file missing or changed: resume re-fetches)")
        elif live and step.state in ("submitted", "running") and step.server and step.prompt_id:
            client = clients.setdefault(step.server, ComfyClient(step.server, manifest.client_id, timeout=5))
            try:
                status, _ = client.prompt_status(step.prompt_id)
                if status in ("queued", "running") and data.get("detached"):
                    written = client.file_size(step.file, server_folder(manifest.run_id)) is not None
                    detail = "file written" if written else ""
                state = {"success": "finished", "unknown": "lost"}.get(status, status)
                detail = {"finished": "on the server, not downloaded yet: segue resume collects it",
                          "lost": "the server no longer knows it: segue resume submits it again"}.get(state, detail)
            except ServerUnreachable:
                detail = "server unreachable"
        server = (step.server or "").split("://", 1)[-1]
        lines.append(f"{step.id:<10} {state:<10} {server:<22} {step.frames:>6}  {detail}".rstrip())
    if table:
        lines.append("")
        lines.extend(frame_table(data["kind"], data["frame_plan"]))
    return lines


def frame_table(kind: str, plan: dict) -> list[str]:
    """The frame plan as a table (``segue plan`` and ``segue status``), from its JSON form."""
    if kind == "travel":
        out = [f"travel: {len(plan['segments'])} segments, mode {plan['mode']}, total {plan['total_frames']} frames"
               + (" (a seamless loop)" if plan.get("loop") else ""),
               f"{'seg':>3} {'generate':>8} {'ovl_prev':>8} {'ovl_next':>8} {'start':>6} {'trim':>4} {'context':>7}"]
        for s in plan["segments"]:
            out.append(f"{s['index']:>3} {s['generate_frames']:>8} {s['overlap_from_previous']:>8} "
                       f"{s['overlap_with_next']:>8} {s['start_frame']:>6} {s['trim_start']:>4} {s['context_frames']:>7}")
        out.append("keyframes at:  " + " ".join(map(str, plan["keyframe_frames"])))
        out.append("requested at:  " + " ".join(map(str, plan["requested_keyframe_frames"])))
    elif kind == "extend":
        out = [f"extend: {plan['clip_frames']} clip frames + {plan['new_frames']} new in {len(plan['segments'])} "
               f"segments, total {plan['total_frames']} frames",
               f"{'seg':>3} {'leg':>3} {'generate':>8} {'context':>7} {'new':>5} {'start':>6} {'blend':>5}"]
        for s in plan["segments"]:
            out.append(f"{s['index']:>3} {s['leg']:>3} {s['generate_frames']:>8} {s['context_frames']:>7} "
                       f"{s['new_frames']:>5} {s['start_frame']:>6} {s['blend_frames']:>5}")
        if plan["keyframe_frames"]:
            out.append("keyframes at:  " + " ".join(map(str, plan["keyframe_frames"])))
    else:
        seconds = f" = {plan['seconds']:.3f} s at {plan['output_fps']} fps" if "seconds" in plan else ""
        out = [f"join: {len(plan['clip_frames'])} clips, total {plan['total_frames']} frames{seconds}"
               + (" (a seamless loop)" if plan.get("loop") else ""),
               f"{'join':>4} {'mode':>7} {'T':>4} {'gap':>4} {'ctx':>4} {'trimA':>5} {'trimB':>5} {'blend':>5} {'at':>6} "
               f"{'at s':>8} {'T s':>6} {'generate':>8}"]
        for j in plan["joins"]:
            sec = j.get("seconds", {})
            out.append(f"{j['index']:>4} {'replace' if j['replace'] else 'insert':>7} {j['transition_frames']:>4} "
                       f"{j['gap_frames']:>4} {j['context_frames_a']:>4} {j['trim_from_a']:>5} {j['trim_from_b']:>5} "
                       f"{j['blend_frames']:>5} {j['transition_start']:>6} {sec.get('start', 0):>8.3f} "
                       f"{sec.get('transition', 0):>6.3f} {j.get('generation_frames', j['transition_frames']):>8}")
        out.append("clips kept: " + " ".join(f"{c['index']}:[{c['keep_start']},{c['keep_end']})@{c['start_frame']}"
                                             for c in plan["clips"]))
    return out + [f"warning: {w}" for w in plan.get("warnings", [])]
