"""A run's generator (``GeneratorConfig``): the recipe plus what only a prompt that loads its own
models needs, model file names as the server lists them and reference image files.

Apart from the runs because every kind of run holds one and the plan files, the command-line
builders and the original payloads' converter all make one; the recipe itself
(``video_utils.core.recipe``) stays the one owner of sampler settings, phases and LoRAs.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ...video_utils.core.chains import ModelFiles
from ...video_utils.core.constants import DEFAULT_SEED_POLICY, IMAGE_EXTENSIONS
from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.recipe import Recipe
from .checks import check_file, check_name

FILE_KEYS = tuple(f.name for f in fields(ModelFiles))     # the model file names a prompt loads
REFERENCE_KEYS = ("reference_image", "segment_reference_images")
WAN_KINDS = ("wan-vace", "wan-flf")


@functools.lru_cache(maxsize=64)
def _parsed_recipe(settings_json: str) -> Recipe:
    """``Recipe.from_dict`` of these settings, parsed once (a run builds a prompt per step)."""
    return Recipe.from_dict(json.loads(settings_json), "generator")


@dataclass
class GeneratorConfig(ModelFiles):
    """A plan file's ``generator``: the recipe (``video_utils.core.recipe.Recipe``: generator kind,
    sampler settings, phases, LoRAs, colour...) plus what only a prompt that loads its own models
    needs: model file names as the server lists them and reference image files.

    ``kind``: ``preview`` (no model files), ``wan21-vace`` / ``wan-vace`` (``unet``, ``vae``,
    ``clip``), ``wan22-vace`` (also ``unet_low``: the low-noise expert; ``unet`` is the high-noise
    one), ``wan-flf`` (first-last-frame models; ``clip_vision`` optional) or ``template``
    (``template``: an API-format graph with the slot markers).  The model files are
    ``ModelFiles``' fields (keyword-only).  The run's ``seed`` and ``seed_mode`` complete the recipe.
    """

    kind: str = "preview"
    reference_image: str = ""                 # one image for every item
    segment_reference_images: list = field(default_factory=list)   # entry i (a path or null) for item i
    settings: dict = field(default_factory=dict)    # the Recipe's own keys (steps, cfg, phases, loras ...)

    def recipe(self, seed: int = 0, seed_policy: str = DEFAULT_SEED_POLICY) -> Recipe:
        return _parsed_recipe(json.dumps({**self.settings, "kind": self.kind, "seed": seed, "seed_policy": seed_policy},
                                         sort_keys=True, default=str))

    @property
    def template(self) -> str:
        return str(self.settings.get("template", ""))

    def validate(self, items: int | None = None, what: str = "segments", check_files: bool = True) -> None:
        """``items``: the run's segments / transitions (per-item lists may not be longer)."""
        for name in FILE_KEYS + ("reference_image",):
            check_name(getattr(self, name), f"generator.{name}")
        recipe = self.recipe()
        needed = {"wan-vace": ("unet", "vae", "clip"), "wan-flf": ("unet", "vae", "clip")}.get(recipe.kind, ())
        if self.kind == "wan22-vace":
            needed += ("unet_low",)
        for name in needed:
            if not getattr(self, name):
                flag_name = "--" + name.replace("_", "-")
                raise PlanError(f"generator {self.kind} needs a model file name for {name}: pass {flag_name} "
                                f"(a file name as ComfyUI lists it, e.g. under models/)")
        if recipe.kind == "template" and not Path(self.template).is_file():
            raise PlanError(f"template {self.template!r} does not exist: check the path")
        if recipe.kind in WAN_KINDS:
            recipe.sampling(has_low=bool(self.unet_low))
        elif recipe.phases or recipe.loras or recipe.segment_loras:
            raise PlanError(f"generator.phases / loras / segment_loras apply to the wan generators (their samplers "
                            f"and models), not {self.kind}: remove them or use a wan generator")
        if not isinstance(self.segment_reference_images, list):
            raise PlanError(f"generator.segment_reference_images={brief(self.segment_reference_images)} must be a "
                            f"list with one image path (or null) per item")
        if self.reference_paths() and recipe.kind != "wan-vace":
            raise PlanError(f"reference images work with the wan-vace generators only (VACE's reference_image), "
                            f"not {self.kind}: remove reference_image / segment_reference_images")
        if items is not None:
            recipe.check_items(items, what)
            if len(self.segment_reference_images) > items:
                raise PlanError(f"generator.segment_reference_images has {len(self.segment_reference_images)} "
                                f"entries but there are only {items} {what}: give at most one per {what[:-1]}")
        for i, path in enumerate(self.segment_reference_images):
            if path is not None:
                check_name(path, f"generator.segment_reference_images[{i}]")
        if check_files:
            for i, path in enumerate(self.reference_paths()):
                check_file(path, f"reference image {i}", IMAGE_EXTENSIONS)

    def reference_paths(self) -> list[str]:
        """Every reference image file, run-level first (each once)."""
        paths = [self.reference_image] if self.reference_image else []
        return list(dict.fromkeys(paths + [p for p in self.segment_reference_images if p]))

    def reference_for(self, index: int) -> str:
        """Item ``index``'s reference image file ("" = none)."""
        if index < len(self.segment_reference_images) and self.segment_reference_images[index]:
            return str(self.segment_reference_images[index])
        return self.reference_image

    def to_dict(self) -> dict:
        data = {"kind": self.kind}
        data.update((f.name, getattr(self, f.name)) for f in fields(self) if f.name not in ("kind", "settings"))
        data.update(self.settings)
        return data

    @classmethod
    def from_dict(cls, data: dict | str | None) -> "GeneratorConfig":
        if data is None:
            return cls()
        if isinstance(data, str):
            return cls.from_name(data)
        if not isinstance(data, dict):
            raise PlanError(f"generator={brief(data)} must be an object like {{\"kind\": \"preview\"}} or a "
                            f"generator name")
        misplaced = sorted({"seed", "seed_policy"} & set(data))
        if misplaced:
            raise PlanError(f"generator has {misplaced}: a plan's seed is its top-level \"seed\" and \"seed_mode\"")
        own = {k: v for k, v in data.items() if k in FILE_KEYS + REFERENCE_KEYS + ("kind",)}
        settings = {k: v for k, v in data.items() if k not in own}
        if not isinstance(own.get("kind", "preview"), str):
            raise PlanError(f"generator.kind={brief(own['kind'])} must be a generator name like \"preview\"")
        config = cls(**own, settings=settings)
        config.recipe()    # unknown keys and bad values are refused here
        return config

    @classmethod
    def from_name(cls, name: str, **options) -> "GeneratorConfig":
        """``preview`` / ``wan21-vace`` / ``wan22-vace`` / ``wan-flf`` or a path ending in ``.json``
        (template); ``options`` are file names and recipe settings (None = the default)."""
        options = {k: v for k, v in options.items() if v is not None}
        if name.lower().endswith(".json"):
            options["template"] = os.path.abspath(name)
            name = "template"
        return cls.from_dict({"kind": name, **options})
