"""Clips joined with generated transitions as the orchestrator runs them (``JoinRun``): one
transition per consecutive pair, validated up front by the planner the join nodes use
(``video_utils.core.join_plan``) on the clips' frame counts as those nodes conform them (probed with
PyAV), so a run that validates here is the plan the server executes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...video_utils.core.constants import (CONFORM_FIT_MODES, DEFAULT_FIT, DEFAULT_GAP_AUDIO, DEFAULT_JOIN_CONTEXT,
                                           DEFAULT_JOIN_GAP, DEFAULT_JOIN_PROMPT, DEFAULT_RETIME, GAP_AUDIO_MODES,
                                           GENERATION_FPS, RETIME_MODES)
from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.join_plan import (JOIN_OVERRIDE_KEYS, JOIN_PROMPT_KEYS, SEED_JOIN_KEYS, JoinPlan, join_count,
                                           plan_join)
from ...video_utils.core.lengths import as_fps, check_step_memory, flag
from ...video_utils.core.output_format import OutputFormat, decide_format
from ...video_utils.core.recipe import whole
from ...video_utils.core.retime import conformed_frame_count
from ...video_utils.core.sizes import check_fit
from .checks import check_choice, check_file, check_fps, check_name, check_text, probe_clip, size_fix
from .common import ClipRef, RunBase

@dataclass
class JoinRun(RunBase):
    """Clips joined with generated transitions (one transition per consecutive pair); the seed,
    encoder, generator and output fields are ``RunBase``'s."""

    clips: list[ClipRef]
    context: int = DEFAULT_JOIN_CONTEXT
    gap: int = DEFAULT_JOIN_GAP
    replace: bool = False
    blend: int | None = None          # None = cross-fade over the whole context
    prompt: str = DEFAULT_JOIN_PROMPT
    negative_prompt: str = ""
    per_join: list[dict] = field(default_factory=list)   # entry i overrides join i
    allow_shrink: bool = False
    bridging: bool = False
    loop: bool = False                # also join the last clip back to the first: a seamless loop
    aspect_ratio: str = ""            # "16:9": must match the clips (checked up front); "" = clip A's
    fps: float = 0.0                  # output rate; 0 = the first clip's frame rate
    width: int = 0                    # output size; 0 = the first clip's as displayed
    height: int = 0
    fit: str = DEFAULT_FIT            # how clips of another shape are brought to the output size
    work_width: int = 0               # generation size; 0 = about 832x480 at the output's aspect
    work_height: int = 0
    retime: str = DEFAULT_RETIME      # transitions from the generation rate to the output rate
    keep_audio: bool = True
    gap_audio: str = DEFAULT_GAP_AUDIO   # what the generated transitions sound like
    clip_frames: list[int] | None = None   # probed (at the output rate); stored so status/resume need not re-probe
    clip_fps: str | None = None            # probed: the first clip's rate, the output rate when fps is 0

    kind = "join"

    @property
    def join_count(self) -> int:
        return join_count(len(self.clips), self.loop)

    def planner_per_join(self) -> list[dict]:
        """``per_join`` reduced to the planner's keys (seed-style names translated)."""
        if not isinstance(self.per_join, list):
            raise PlanError(f"per_join={brief(self.per_join)} must be a list of override objects, one per join")
        if len(self.per_join) > max(self.join_count, 0):
            raise PlanError(f"per_join has {len(self.per_join)} entries but {len(self.clips)} clips make "
                            f"{self.join_count} joins: give at most one override object per join")
        out = []
        for i, entry in enumerate(self.per_join):
            entry = {} if entry is None else entry          # null = no override (every path's rule)
            if not isinstance(entry, dict):
                raise PlanError(f"per_join_settings[{i}]={brief(entry)} must be an object of overrides")
            override = {}
            for key, value in entry.items():
                key = SEED_JOIN_KEYS.get(key, key)
                if key in JOIN_OVERRIDE_KEYS:
                    override[key] = value
                elif key not in JOIN_PROMPT_KEYS:
                    allowed = ", ".join(JOIN_OVERRIDE_KEYS + JOIN_PROMPT_KEYS)
                    raise PlanError(f"per_join_settings[{i}] has unknown key {key!r}: use only {allowed}")
            for key in ("prompt", "negative_prompt"):
                if key in entry:
                    check_text(entry[key], f"per_join[{i}].{key}")
            if "seed" in entry:
                whole(entry["seed"], f"per_join[{i}].seed", 0, 2 ** 63 - 1)
            out.append(override)
        return out

    def _override(self, index: int) -> dict:
        """Join ``index``'s own settings (``{}``: none; a null entry is none too)."""
        return (self.per_join[index] if index < len(self.per_join) else None) or {}

    def join_prompt(self, index: int) -> tuple[str, str]:
        entry = self._override(index)
        return str(entry.get("prompt", self.prompt)), str(entry.get("negative_prompt", self.negative_prompt))

    def join_seed(self, index: int) -> int:
        entry = self._override(index)
        if "seed" in entry:
            return int(entry["seed"])
        return self.item_seed(index)

    def output_fps(self):
        """The output rate: ``fps``, else the first clip's (probed)."""
        if self.fps:
            return as_fps(self.fps, "fps")
        if self.clip_fps is None and self.clip_frames is None:
            self.probe()
        if self.clip_fps is None:        # counts given by the caller, not probed: taken at the generation rate
            return GENERATION_FPS
        return as_fps(self.clip_fps, "clip_fps")

    def format(self) -> OutputFormat:
        """The output and working size and rate as the join nodes decide them
        (``core.output_format``), from the first clip's probed size or the given ``width``."""
        displayed = getattr(self, "_size", None) or (self.width, self.height)
        return decide_format(displayed, self.output_fps(), width=self.width, height=self.height,
                             work_width=self.work_width, work_height=self.work_height)

    def probe(self) -> list[int]:
        """Frame counts of the clips at the output rate, as the join nodes conform them (PyAV, no
        decoding); stored in ``clip_frames`` (and the first clip's rate in ``clip_fps``)."""
        infos = []
        for i, clip in enumerate(self.clips):
            check_file(clip.path, clip.label(i), None)
            infos.append(probe_clip(clip.path, clip.label(i)))
        sizes = [(info.width, info.height) for info in infos]
        self.clip_fps = str(infos[0].fps)
        rate = self.output_fps()
        self.clip_frames = [conformed_frame_count(clip.path, rate) for clip in self.clips]
        self._size = sizes[0]
        if self.aspect_ratio and re.fullmatch(r"\d+:\d+", self.aspect_ratio) and not self.width:
            aw, ah = (int(v) for v in self.aspect_ratio.split(":"))
            width, height = sizes[0]
            if ah == 0 or aw == 0 or abs(width / height - aw / ah) > 0.01 * aw / ah:
                raise PlanError(f"aspect_ratio={self.aspect_ratio!r} differs from the first clip's {width}x{height}: "
                                f"give the output size it means (--size / width and height, fit crop) or leave "
                                f"aspect_ratio empty")
        return self.clip_frames

    def plan(self) -> JoinPlan:
        if self.clip_frames is None:
            self.probe()
        names = [c.label(i) for i, c in enumerate(self.clips)]
        blend = None if self.blend is None else whole(self.blend, "blend", 0, 10_000)
        return plan_join(self.clip_frames, self.context, self.gap, flag(self.replace, "replace"), blend,
                         self.planner_per_join(), flag(self.allow_shrink, "allow_shrink"), names,
                         loop=flag(self.loop, "loop"), generation_fps=GENERATION_FPS, output_fps=self.output_fps())

    def validate(self, check_files: bool = True) -> JoinPlan:
        if not isinstance(self.clips, list):
            raise PlanError(f"clips={brief(self.clips)} must be a list of clip paths")
        if len(self.clips) < (1 if self.loop else 2):
            raise PlanError(f"joining needs at least 2 clips (1 with loop), got {len(self.clips)}: add another clip")
        for name in ("bridging", "keep_audio"):
            flag(getattr(self, name), name)
        for name in ("prompt", "negative_prompt"):
            check_text(getattr(self, name), name)
        check_name(self.aspect_ratio, "aspect_ratio")
        if self.aspect_ratio and not re.fullmatch(r"[1-9]\d*:[1-9]\d*", self.aspect_ratio):
            raise PlanError(f"aspect_ratio={self.aspect_ratio!r} is not W:H: write it like 16:9")
        check_fps(self.fps, "fps", zero_ok=True)
        check_fit(check_name(self.fit, "fit"), CONFORM_FIT_MODES)
        check_choice(self.retime, RETIME_MODES, "retime")
        check_choice(self.gap_audio, GAP_AUDIO_MODES, "gap_audio")
        self.check_size_pairs(("width", "height", ""), ("work_width", "work_height", ""))
        if check_files:
            self.probe()
        plan = self.plan()
        self.check_common()
        if getattr(self, "_size", None) or self.width:
            fmt = self.format()
            check_step_memory(fmt.work_width, fmt.work_height, max(j.generation_frames for j in plan.joins),
                              "transition", fix=size_fix("transition"))
            check_step_memory(fmt.width, fmt.height, max(j.transition_frames for j in plan.joins), "transition",
                              fix=size_fix("transition"), generated=False)
        self.generator.validate(len(plan.joins), "joins", check_files)
        return plan
