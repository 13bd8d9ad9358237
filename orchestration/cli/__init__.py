"""The ``segue`` command: ``main`` (the console script) and its parser."""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
