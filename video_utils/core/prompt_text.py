"""The one check of prompt text, shared by the travel, join and extend nodes and the orchestrator's
plan checks (``orchestration.runs.checks``), so a prompt is refused the same way on every path.

A prompt must encode as UTF-8: command-line bytes that are not UTF-8, and a JSON ``\\ud800``
escape in a ``/prompt`` body, arrive as lone surrogates, which no tokenizer or log can encode.
It may hold at most ``MAX_PROMPT_CHARS`` characters (Wan's text encoder reads about 512 tokens;
a megabyte of text is a mistake, not a prompt).  How many prompts a run of N segments or joins
takes (one for all, or N) is ``segment_prompts``, the same rule for the nodes' lines, plan files
and the command line.  Pure Python, no torch.
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


def segment_prompts(prompts, count: int, name: str, what: str = "segment") -> list[str]:
    """The one rule for per-item prompts, on every path (node lines, plan files, the command
    line): no prompt = every item unprompted, one = every item, ``count`` = one each; any other
    number is refused naming ``name``, both counts and the fix.  ``prompts`` is a list of texts
    (a node's non-empty lines, a plan file's list, the repeated ``--prompt``); ``what`` names an
    item ("segment", "join")."""
    items = list(prompts)
    if not items:
        return [""] * count
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise PlanError(f"{name} has {len(items)} prompts but there {'is' if count == 1 else 'are'} {count} "
                        f"{what}{'' if count == 1 else 's'}: give one prompt (used for every {what}) or "
                        f"exactly {count}, one per {what}")
    return items
