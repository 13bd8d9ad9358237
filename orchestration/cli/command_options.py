"""Each command's options: the families (``plan_options``, ``server_options``) a command line
bundles, built from argparse's namespace by one function per command, so a command handler takes
one typed object and never reads the namespace.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from .options import Options
from .plan_options import (ExtendPlanOptions, JoinDeliveryOptions, JoinPlanOptions, RenderOptions,
                           TravelDeliveryOptions, TravelPlanOptions)
from .server_options import ConnectionOptions, GenerationOptions, ModelFileOptions, RunOptions


@dataclass(frozen=True, kw_only=True)
class ServerCommand:
    """What ``travel`` / ``join`` / ``extend`` carry for a run on ComfyUI servers (``--server``,
    the generation options, the run directory); unused when they render on this machine."""

    connection: ConnectionOptions = ConnectionOptions()
    generation: GenerationOptions = GenerationOptions()
    run: RunOptions = RunOptions(runs_dir="segue_runs")

    @staticmethod
    def parts(ns: argparse.Namespace) -> dict:
        return dict(connection=ConnectionOptions.from_namespace(ns), generation=GenerationOptions.from_namespace(ns),
                    run=RunOptions.from_namespace(ns))


@dataclass(frozen=True)
class TravelCommand(ServerCommand):
    """``segue travel IMAGES ...``"""

    images: list[Path]
    plan: TravelPlanOptions
    render: RenderOptions
    delivery: TravelDeliveryOptions = TravelDeliveryOptions()


@dataclass(frozen=True)
class JoinCommand(ServerCommand):
    """``segue join CLIPS ...``"""

    clips: list[Path]
    plan: JoinPlanOptions
    render: RenderOptions
    bridging: bool = False
    no_audio: bool = False
    delivery: JoinDeliveryOptions = JoinDeliveryOptions()


@dataclass(frozen=True)
class ExtendCommand(ServerCommand):
    """``segue extend CLIP --frames F ...``"""

    clip: Path
    plan: ExtendPlanOptions
    render: RenderOptions
    no_audio: bool = False


@dataclass(frozen=True)
class RunDirCommand(Options):
    """``status`` / ``resume`` / ``cancel`` on an existing run directory (``status``: several,
    or a folder of them)."""

    run_dir: Path
    out: Path | None = None          # resume: also copy the final video here
    offline: bool = False            # status: do not ask the servers
    connection: ConnectionOptions = ConnectionOptions()
    more: tuple[Path, ...] = ()      # status: further run directories


@dataclass(frozen=True)
class PlanFileCommand:
    """``segue run PLAN.json [PLAN ...]`` (several, a folder or a JSONL file: a batch)."""

    plan: Path
    run: RunOptions = RunOptions()
    connection: ConnectionOptions = ConnectionOptions()
    more: tuple[Path, ...] = ()
    models: ModelFileOptions = ModelFileOptions()


@dataclass(frozen=True)
class ConvertCommand:
    """``segue convert PAYLOAD.json --out PLAN.json``: an original payload as a plan file."""

    payload: Path
    out: Path
    models: ModelFileOptions = ModelFileOptions()


def travel_command(ns: argparse.Namespace) -> TravelCommand:
    return TravelCommand(ns.images, TravelPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns),
                         TravelDeliveryOptions.from_namespace(ns), **ServerCommand.parts(ns))


def join_command(ns: argparse.Namespace) -> JoinCommand:
    return JoinCommand(ns.clips, JoinPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns), ns.bridging,
                       ns.no_audio, JoinDeliveryOptions.from_namespace(ns), **ServerCommand.parts(ns))


def extend_command(ns: argparse.Namespace) -> ExtendCommand:
    return ExtendCommand(ns.clip_path, ExtendPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns),
                         ns.no_audio, **ServerCommand.parts(ns))


def run_dir_command(ns: argparse.Namespace) -> RunDirCommand:
    dirs = list(getattr(ns, "run_dirs", None) or [ns.run_dir])
    return RunDirCommand.from_namespace(ns, run_dir=dirs[0], more=tuple(dirs[1:]),
                                        connection=ConnectionOptions.from_namespace(ns))


def plan_file_command(ns: argparse.Namespace) -> PlanFileCommand:
    return PlanFileCommand(ns.plans[0], RunOptions.from_namespace(ns), ConnectionOptions.from_namespace(ns),
                           tuple(ns.plans[1:]), ModelFileOptions.from_namespace(ns))


def convert_command(ns: argparse.Namespace) -> ConvertCommand:
    return ConvertCommand(ns.payload, ns.out, ModelFileOptions.from_namespace(ns))
