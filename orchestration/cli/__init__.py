"""The ``segue`` command: ``main`` (the console script), its parser, and the command objects the
plan-file and run-directory commands take (for scripts and tests that call them directly)."""

from .commands import ConvertCommand, ModelFileOptions, PlanFileCommand, RunOptions, cmd_convert, cmd_run
from .main import build_parser, main
from .run_dirs import RunDirCommand, cmd_cancel, cmd_resume, cmd_status

__all__ = ["main", "build_parser", "PlanFileCommand", "RunDirCommand", "ConvertCommand", "RunOptions",
           "ModelFileOptions", "cmd_run", "cmd_convert", "cmd_status", "cmd_resume", "cmd_cancel"]
