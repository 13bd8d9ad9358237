"""The one check of prompt text, shared by the nodes (``nodes.parse``) and the orchestrator's
plan checks (``orchestration.run_checks``), so a prompt is refused the same way on every path.

A prompt must encode as UTF-8: command-line bytes that are not UTF-8, and a JSON ``\\ud800``
escape in a ``/prompt`` body, arrive as lone surrogates, which no tokenizer or log can encode.
It may hold at most ``MAX_PROMPT_CHARS`` characters (Wan's text encoder reads about 512 tokens;
a megabyte of text is a mistake, not a prompt).  Pure Python, no torch.
"""

from __future__ import annotations

from .constants import MAX_PROMPT_CHARS
from .errors import PlanError


def check_prompt_text(text: str, name: str) -> str:
    """``text`` (a ``str``) if it is a usable prompt, else a ``PlanError`` naming ``name``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PlanError(f"{name} is not UTF-8 text (character {e.start} cannot be encoded): "
                        f"retype the prompt in UTF-8") from None
    if len(text) > MAX_PROMPT_CHARS:
        raise PlanError(f"{name} has {len(text)} characters ({text[:30]!r}...), above the limit of "
                        f"{MAX_PROMPT_CHARS}: shorten it (Wan's text encoder reads about 512 tokens)")
    return text
