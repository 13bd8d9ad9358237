"""A join transition in both timelines: how long it is at each rate and which position maps where.

Clips, contexts and gaps are OUTPUT frames (clip frames after conforming to ``output_fps``).  The
sampler works at ``generation_fps``: a transition of ``T_out`` output frames is generated as
``T_gen`` (4n+1) frames ``[context_gen_a | gap_gen | context_gen_b]``.  The two are tied with their
ends aligned: generated frame 0 is output frame 0 of the transition and generated frame ``T_gen-1``
is output frame ``T_out-1``, with ``T_out = round((T_gen-1) * out/gen) + 1`` (so
``T_out/out ~ T_gen/gen``; the gap absorbs the rounding).  Output frame ``t`` of the transition
shows generated position ``t * stretch`` (``stretch = (T_gen-1)/(T_out-1)``); the generation
contexts are the generated frames whose output position lies inside the output context, so a guide
frame never reads outside A's or B's context window.  With equal rates every number is the
single-rate plan's and every position a whole frame.

The lengths (``transition_lengths``) and the positions (``TransitionTimeline``) live together
because the positions are only right for lengths chosen by this rule.  The rates themselves and
whole-video retiming are ``lengths.py``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .lengths import MIN_WAN_LENGTH, check_rates, round_half_up, wan_length_ceil


@dataclass(frozen=True)
class TransitionLengths:
    """One transition in both timelines (``transition_lengths``)."""

    frames: int                # T_out: output frames the (retimed) transition covers
    gap: int                   # effective gap in output frames (frames - 2*context)
    generation_frames: int     # T_gen: 4n+1 frames the sampler generates
    context_generation: int    # generated frames per context
    gap_generation: int        # generated gap frames


def transition_lengths(context: int, gap: int, generation_fps=None, output_fps=None) -> TransitionLengths:
    """A transition of ``2*context + gap`` output frames in both timelines.

    The generation length is the largest 4n+1 whose output span ``round((T_gen-1)*out/gen) + 1``
    fits in ``2*context + gap`` while still holding both contexts (the gap shrinks by the
    rounding, the original's rule); a gap too small to absorb it grows to the next fitting 4n+1.
    """
    gen, out = check_rates(generation_fps, output_fps)
    ratio = out / gen
    desired = 2 * context + gap

    def span(t_gen: int) -> int:
        return round_half_up((t_gen - 1) * ratio) + 1

    t_gen = wan_length_ceil(max(round_half_up((desired - 1) / ratio) + 1, MIN_WAN_LENGTH))
    while span(t_gen) <= desired:
        t_gen += 4
    chosen = None
    while t_gen >= MIN_WAN_LENGTH:
        if span(t_gen) <= desired:
            if span(t_gen) >= 2 * context:
                chosen = t_gen
            break
        t_gen -= 4
    if chosen is None:
        chosen = MIN_WAN_LENGTH
        while span(chosen) < 2 * context:
            chosen += 4
    t_out = span(chosen)
    stretch = Fraction(chosen - 1, t_out - 1)
    c_gen = math.floor((context - 1) * stretch) + 1
    return TransitionLengths(t_out, t_out - 2 * context, chosen, c_gen, chosen - 2 * c_gen)


class TransitionTimeline:
    """Position mapping between a transition's output and generated frames (mixed into ``JoinSpec``).

    A mixin rather than functions so guides and assembly ask the join itself
    (``spec.context_a_sources()``) and ``JoinSpec`` stays a plain record of numbers.  It reads the
    host's ``transition_frames``, ``generation_frames``, ``context_frames_b``, ``context_a_start``,
    ``context_b_start``, ``context_gen_a`` and ``context_gen_b``.
    """

    @property
    def stretch(self) -> Fraction:
        """Generated frames per output frame over this transition (1 at equal rates)."""
        return Fraction(self.generation_frames - 1, self.transition_frames - 1)

    def generation_position(self, t: int) -> Fraction:
        """Generated-frame position shown by output frame ``t`` of the transition (retiming)."""
        return t * self.stretch

    def retime_sources(self) -> list[Fraction]:
        """``generation_position(t)`` for every output frame: retime the generated transition
        (``generation_frames`` long) to ``transition_frames`` by sampling these positions."""
        return [self.generation_position(t) for t in range(self.transition_frames)]

    def context_a_sources(self) -> list[Fraction]:
        """Clip-A frame position for each of the guide's ``context_gen_a`` leading frames."""
        return [self.context_a_start + u / self.stretch for u in range(self.context_gen_a)]

    def context_b_sources(self) -> list[Fraction]:
        """Clip-B frame position for each of the guide's ``context_gen_b`` trailing frames."""
        b_start = self.transition_frames - self.context_frames_b     # output frame where B's context begins
        first = self.generation_frames - self.context_gen_b
        return [self.context_b_start + (u / self.stretch - b_start) for u in range(first, self.generation_frames)]
