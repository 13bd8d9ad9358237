"""The inputs and outputs several Segue nodes share, declared once, with the checks their
``validate_inputs`` run (ComfyUI checks V3 combos and text formats only at run time, so the
nodes check them before anything runs).  A node file builds its schema from these and imports
nothing from another node file.
"""

from __future__ import annotations

import os

from ..video_utils.core import parse
from ..video_utils.core.constants import (COLOUR_MATCH_MODES, COLOUR_METHODS, CONFORM_FIT_MODES, CURVES, DEFAULT_CRF,
                                          DEFAULT_CURVE, DEFAULT_EXTEND_FRAMES, DEFAULT_FIT, DEFAULT_GAP_AUDIO,
                                          DEFAULT_JOIN_CONTEXT, DEFAULT_JOIN_GAP, DEFAULT_OVERLAP, DEFAULT_PRESET,
                                          DEFAULT_RETIME, DEFAULT_SEGMENT_FRAMES, DEFAULT_TRAVEL_MODE, FILE_FOLDERS,
                                          GAP_AUDIO_MODES, GENERATION_FPS, MAX_SHARPEN, PRESETS, RETIME_MODES,
                                          TRAVEL_MODES, VIDEO_EXTENSIONS)
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import PathError, check_relative, resolve_input, split_annotation
from ..video_utils.core.lengths import DEFAULT_MAX_GENERATION, MAX_GENERATION_FRAMES, MIN_WAN_LENGTH
from ..video_utils.core.recipe import check_choice
from ..video_utils.core.step_settings import PostSettings
from .api import RECIPE, STEP, advanced, folders, io


NAME_HELP = ("relative to ComfyUI's input/ folder, or add ' [output]' / ' [temp]' for those folders, "
             "e.g. 'segue/run1/seg_000.mkv [output]'")


STEP_HELP = "The segment/transition to generate: connect to Segue VACE Encode, Segue Preview Step or Segue Step Guide."


KEEP_AUDIO_HELP = ("Keep the clip's sound, under its own pictures and resampled to 48 kHz stereo as a join's clips "
                   "are; the new frames are silent (the sound track lasts as long as the video).")


GUIDE_OUTPUTS_HELP = {
    "control_video": "Guide frames [length,H,W,3]: kept frames are real pixels, frames to generate are 0.5 grey. "
                     "Connect to WanVaceToVideo.control_video.",
    "control_masks": "Mask [length,H,W]: 0 = keep, 1 = generate. Connect to WanVaceToVideo.control_masks.",
    "length": "Frames to generate (4n+1). Connect to WanVaceToVideo.length.",
    "width": "Generation width (multiple of 16). Connect to WanVaceToVideo.width.",
    "height": "Generation height (multiple of 16). Connect to WanVaceToVideo.height.",
}


MAX_SEGMENT_INPUTS = 8


def validated(*checks) -> bool | str:
    """``True``, or the first check's error message (what ``validate_inputs`` returns).

    Each check is a zero-argument callable that raises ValueError; checks of inputs that are
    linked (passed as None at validation time) should be skipped by the caller.
    """
    try:
        for check in checks:
            check()
    except ValueError as e:
        return str(e)
    return True


def guide_outputs() -> list:
    return [
        io.Image.Output(display_name="control_video", tooltip=GUIDE_OUTPUTS_HELP["control_video"]),
        io.Mask.Output(display_name="control_masks", tooltip=GUIDE_OUTPUTS_HELP["control_masks"]),
        io.Int.Output(display_name="length", tooltip=GUIDE_OUTPUTS_HELP["length"]),
        io.Int.Output(display_name="width", tooltip=GUIDE_OUTPUTS_HELP["width"]),
        io.Int.Output(display_name="height", tooltip=GUIDE_OUTPUTS_HELP["height"]),
    ]


def travel_settings_inputs() -> list:
    """The plan inputs SegueTravelGuide, SegueTravelSegment and SegueTravel share."""
    return [
        io.String.Input("segment_frames", default=str(DEFAULT_SEGMENT_FRAMES),
                        tooltip="Frames from one keyframe to the next: one number for every segment ('48') or one "
                                "per segment ('48, 64, 48'). Lengths are chosen so keyframes land within 2 frames."),
        io.String.Input("overlap", default=str(DEFAULT_OVERLAP),
                        tooltip="Frames cross-faded at each boundary: one number ('8') or one per boundary "
                                "('8, 10, 8'). In chained mode these frames continue the previous segment."),
        io.Combo.Input("mode", options=list(TRAVEL_MODES), default=DEFAULT_TRAVEL_MODE,
                       tooltip="chained: each segment continues the previous one's last frames (smooth motion, "
                               "sequential); independent: segments only share keyframes (parallel, less continuity)."),
        io.Boolean.Input("exact_keyframes", default=False,
                         tooltip="Land every keyframe exactly on its frame (overlaps flex by up to 2 frames; "
                                 "segment 0 gets a short lead-in that is trimmed)."),
        io.Boolean.Input("loop", default=False, optional=True,
                         tooltip="Seamless loop: one more segment from the last keyframe back to the first, so the "
                                 "video plays round with no jump (segment_frames then has one entry per keyframe)."),
    ]


def travel_settings_checks(segment_frames=None, overlap=None, mode=None) -> list:
    """validate_inputs checks of the shared travel widgets (None = linked, checked at run time)."""
    return [
        lambda: segment_frames is None or parse.int_list(segment_frames, "segment_frames", minimum=1),
        lambda: overlap is None or parse.int_list(overlap, "overlap", minimum=0),
        lambda: mode is None or check_choice(mode, TRAVEL_MODES, "mode"),
    ]


def first_video_input() -> io.Input:
    return io.Video.Input("first_video", optional=True,
                          tooltip="loop only, the closing segment: segment 0's video (its first frames end the loop "
                                  "so it runs into frame 0 without a jump).")


def adjust_inputs() -> list:
    return advanced([
        io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="Chained context frames mixed with grey: 1 = unchanged, lower lets the new "
                               "segment drift further from the previous one."),
        io.Float.Input("desaturate", default=0.0, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="Desaturate the chained context frames (0 = off): counters colour build-up."),
        io.Float.Input("darken", default=0.0, min=-1.0, max=1.0, step=0.01, optional=True,
                       tooltip="Darken (positive) or brighten (negative) the chained context frames: counters "
                               "brightness drift over many segments."),
    ])


def join_core_inputs() -> list:
    """The join settings SegueJoinGuide, SegueJoinClips and SegueJoinAssembleFiles share."""
    return [
        io.Int.Input("context", default=DEFAULT_JOIN_CONTEXT, min=1, max=1000,
                     tooltip="Frames of each clip kept on both sides of a transition (and cross-faded back)."),
        io.Int.Input("gap", default=DEFAULT_JOIN_GAP, min=0, max=10_000,
                     tooltip="Frames generated between the contexts; shrinks by up to 3 so the transition is 4n+1."),
        io.Boolean.Input("replace", default=False,
                         tooltip="Replace: the gap replaces frames at each cut (half from A's end, half from B's "
                                 "start; total length kept); off = insert the gap (the video grows by it)."),
    ]


def join_setting_inputs() -> list:
    """Join settings shared by SegueJoinStep, SegueJoinAssembleFiles and SegueJoinClips."""
    return advanced([
        *join_core_inputs(),
        io.Int.Input("blend", default=-1, min=-1, max=1000,
                     tooltip="Frames cross-faded on each side of a transition; -1 = the whole context."),
        io.String.Input("per_join", multiline=True, default="",
                        tooltip='Optional JSON list of per-join overrides (context, gap, replace, blend), e.g. '
                                '[{"gap": 33}, null, {"replace": true}]. Empty = none.'),
    ], "blend", "per_join")


def per_join_check(per_join=None):
    return lambda: per_join is None or parse.per_join_overrides(per_join)


def format_inputs(what: str = "clip", working: bool = True) -> list:
    """Output size, fit and frame rate, and the model's working size (``working``) and rate."""
    inputs = [
        io.Int.Input("width", default=0, min=0, max=8192,
                     tooltip=f"Output width; 0 = the first {what}'s (as displayed: phone rotation applied)."),
        io.Int.Input("height", default=0, min=0, max=8192,
                     tooltip=f"Output height; 0 = the first {what}'s."),
        io.Combo.Input("fit", options=list(CONFORM_FIT_MODES), default=DEFAULT_FIT,
                       tooltip="How other shapes fit the output (and the working size): crop = fill and cut the "
                               "edges, pad = show all with black bars, stretch = distort to fit."),
        io.Float.Input("fps", default=0.0, min=0.0, max=1000.0, step=0.001,
                       tooltip=f"Output frame rate; 0 = the first {what}'s. Clips at other rates keep their "
                               f"duration (frames repeated or dropped, never interpolated)."),
        io.Int.Input("work_width", default=0, min=0, max=4096, step=16, optional=True,
                     tooltip="Size the model generates at; 0 = about 832x480 pixels at the output's shape "
                             "(Wan's training size). Generated frames are brought to the output size with the "
                             "same fit."),
        io.Int.Input("work_height", default=0, min=0, max=4096, step=16, optional=True,
                     tooltip="Height the model generates at; 0 = automatic (see work_width)."),
        io.Float.Input("generation_fps", default=float(GENERATION_FPS), min=1.0, max=120.0, step=1.0, optional=True,
                       tooltip="The model's frame rate (Wan: 16). Transitions are generated at it and retimed to "
                               "the output rate."),
    ]
    advanced(inputs, "work_width", "work_height", "generation_fps")
    return inputs if working else [i for i in inputs if i.id not in ("work_width", "work_height")]


def loop_input() -> io.Input:
    return io.Boolean.Input("loop", default=False, optional=True,
                            tooltip="Seamless loop: also join the last clip back to the first, so the result "
                                    "plays round with no jump (one more transition).")


def sound_inputs() -> list:
    return advanced([
        io.Boolean.Input("keep_audio", default=True,
                         tooltip="Keep the clips' sound: each clip's sound plays under its own pictures; clips "
                                 "without sound are silent there."),
        io.Combo.Input("gap_audio", options=list(GAP_AUDIO_MODES), default=DEFAULT_GAP_AUDIO, optional=True,
                       tooltip="What the generated transitions sound like: crossfade = the neighbours' sound "
                               "cross-faded, cut = each clip's own sound up to the cut, silence = silent."),
        io.Combo.Input("retime", options=list(RETIME_MODES), default=DEFAULT_RETIME, optional=True,
                       tooltip="How transitions generated at the model's rate reach the output rate: blend = mix "
                               "neighbouring frames (smooth), nearest = repeat/drop frames (sharp)."),
    ], "gap_audio", "retime")


def format_checks(fit=None, gap_audio=None, retime=None) -> list:
    return [*delivery_checks(retime, fit),
            lambda: gap_audio is None or check_choice(gap_audio, GAP_AUDIO_MODES, "gap_audio")]


def extend_setting_inputs() -> list:
    """The settings every extend node plans with (SegueExtendStep, SegueExtendAssemble, SegueExtendClip)."""
    return advanced([
        io.String.Input("frames", default=str(DEFAULT_EXTEND_FRAMES),
                        tooltip="How many new frames to add after the clip, counted at Wan's 16 fps (48 = 3 s; "
                                "the video gets as many seconds at the clip's rate: 90 frames at 30 fps). With "
                                "keyframes: one total (split evenly between them) or one number per keyframe "
                                "('40, 32'), plus an optional last number for frames after the last keyframe "
                                "('40, 32, 16')."),
        io.Int.Input("overlap", default=DEFAULT_OVERLAP, min=1, max=MAX_GENERATION_FRAMES,
                     tooltip="How many of the video's last frames (at 16 fps) each new segment sees and continues "
                             "(the model re-creates them; the video keeps the originals). More = smoother motion, "
                             "fewer new frames per generation."),
        io.Int.Input("max_generation", default=DEFAULT_MAX_GENERATION, min=MIN_WAN_LENGTH, max=MAX_GENERATION_FRAMES,
                     tooltip="Longest single generation in frames, overlap included (81 for Wan). Longer extensions "
                             "are split into several segments automatically."),
        io.Int.Input("blend", default=0, min=0, max=MAX_GENERATION_FRAMES, optional=True,
                     tooltip="0 = a plain cut after the clip (its frames stay untouched). N > 0 cross-fades the last "
                             "N frames (at 16 fps) before each segment into the model's version of them, hiding a "
                             "small jump (this changes the clip's last frames). At most the overlap."),
    ], "max_generation", "blend")


def extend_checks(frames=None, clip_file=None) -> list:
    return [
        lambda: frames is None or parse.int_list(frames, "frames", minimum=1),
        lambda: not clip_file or resolve_input(clip_file, folders(), "clip_file", extensions=VIDEO_EXTENSIONS),
    ]


def encode_inputs() -> list:
    return advanced([
        io.Int.Input("crf", default=DEFAULT_CRF, min=0, max=51,
                     tooltip="H.264 quality: lower = better and bigger (17-23 is typical)."),
        io.Combo.Input("preset", options=list(PRESETS), default=DEFAULT_PRESET,
                       tooltip="x264 speed/size trade-off: slower presets make smaller files."),
    ])


def blend_inputs(optional: bool = False) -> list:
    return advanced([
        io.Combo.Input("curve", options=list(CURVES), default=DEFAULT_CURVE, optional=optional,
                       tooltip="Cross-fade weights: cosine eases in and out, linear is a straight ramp."),
        io.Float.Input("sharpen", default=0.0, min=0.0, max=MAX_SHARPEN, step=0.05, optional=optional,
                       tooltip="Unsharp mask over the cross-faded frames, stronger toward the end of each overlap "
                               "(a dissolve of two slightly different frames looks soft); 0 = off, 0.3 = the original's."),
    ])


def encode_checks(preset=None, curve=None, filename=None, filename_prefix=None) -> list:
    """validate_inputs checks of the encode/blend widgets (None or "" = linked or absent)."""
    return [
        lambda: preset is None or check_choice(preset, PRESETS, "preset"),
        lambda: curve is None or check_choice(curve, CURVES, "curve"),
        lambda: not filename or check_relative(split_annotation(filename, "output")[0], "filename"),
        lambda: not filename_prefix or check_relative(filename_prefix, "filename_prefix"),
    ]


def final_target_inputs(default: str) -> list:
    """Where a final MP4 goes: an exact name, or a counter-suffixed prefix."""
    return [
        io.String.Input("filename", default=default,
                        tooltip="Path under output/ WITHOUT extension; the video is written exactly at "
                                "<filename>.mp4 (atomically, overwriting). Ignored when filename_prefix is set."),
        io.String.Input("filename_prefix", default="", optional=True,
                        tooltip="Instead of filename: output/<prefix>_NNNNN_.mp4 with the next free number, "
                                "like core's savers."),
    ]


def delivery_inputs(loop: bool = True) -> list:
    """How a stitched travel is delivered: output rate and size, retiming, soundtrack (and
    ``loop``, which the travel node takes from its own loop setting)."""
    inputs = [
        io.Float.Input("output_fps", default=0.0, min=0.0, max=1000.0, step=0.001, optional=True,
                       tooltip="Frame rate of the delivered video; 0 = the segments' rate (Wan generates at 16). "
                               "Other rates retime the stitched frames (see retime)."),
        io.Int.Input("width", default=0, min=0, max=8192, optional=True,
                     tooltip="Width of the delivered video; 0 = the segments' (the generation size)."),
        io.Int.Input("height", default=0, min=0, max=8192, optional=True,
                     tooltip="Height of the delivered video; 0 = the segments'."),
        io.Combo.Input("retime", options=list(RETIME_MODES), default=DEFAULT_RETIME, optional=True,
                       tooltip="From the generation rate to output_fps: blend = mix neighbouring frames (smooth), "
                               "nearest = repeat/drop frames (sharp)."),
        io.Combo.Input("fit", options=list(CONFORM_FIT_MODES), default=DEFAULT_FIT, optional=True,
                       tooltip="How the generated frames reach a delivered width/height of another shape: crop = "
                               "fill and cut the edges, pad = black bars, stretch = distort. Use the fit your "
                               "keyframes were loaded with."),
        io.Boolean.Input("loop", default=False, optional=True,
                         tooltip="The video is a seamless loop: retiming keeps its period (and wraps at the seam)."),
        io.String.Input("soundtrack", default="", optional=True,
                        tooltip="Optional sound under the video: a sound or video file in input/ (or with ' [output]'), "
                                "trimmed or padded with silence to the video's length."),
    ]
    advanced(inputs, "retime", "fit")
    return inputs if loop else [i for i in inputs if i.id != "loop"]


def delivery_checks(retime=None, fit=None) -> list:
    """validate_inputs checks of the delivery combos: a wrong value is refused at /prompt with
    Segue's message on every ComfyUI (0.27 checks V3 combos itself unless the node does)."""
    return [lambda: retime is None or check_choice(retime, RETIME_MODES, "retime"),
            lambda: fit is None or check_choice(fit, CONFORM_FIT_MODES, "fit")]


def segment_inputs(prefix: str, count: int, what: str, required: int = 2) -> list:
    """``prefix_1 .. prefix_count`` accepting VIDEO or IMAGE; the first ``required`` are required."""
    return [
        io.MultiType.Input(f"{prefix}_{i}", types=[io.Video, io.Image], optional=i > required,
                           tooltip=f"{what} {i} (VIDEO, e.g. from Load Video / Segue Load Video, or an IMAGE batch)"
                                   + (". Optional." if i > required else "."))
        for i in range(1, count + 1)
    ]


def collect_items(kwargs: dict, prefix: str, what: str) -> list:
    """The connected ``prefix_N`` inputs in order; a hole (1, 2, 4 connected) is an error."""
    items = []
    for i in range(1, MAX_SEGMENT_INPUTS + 1):
        value = kwargs.get(f"{prefix}_{i}")
        if value is None:
            continue
        if len(items) != i - 1:
            raise PlanError(f"{prefix}_{i} is connected but {prefix}_{len(items) + 1} is not: connect {what} in order without gaps")
        items.append(value)
    return items


def target_inputs() -> list:
    return [
        io.String.Input("filename", default="",
                        tooltip="Exact file to write, under output/ without extension (add ' [temp]' for temp/), "
                                "overwritten atomically; empty = a new name under segue/steps/ in folder."),
        io.Combo.Input("folder", options=list(FILE_FOLDERS), default=FILE_FOLDERS[0],
                       tooltip="With an empty filename: temp/ (cleared when ComfyUI restarts) or output/ (kept)."),
    ]


def post_inputs() -> list:
    defaults = PostSettings()
    return advanced([
        *colour_inputs(defaults),
        io.Float.Input("saturation", default=defaults.saturation, min=0.0, max=4.0, step=0.01,
                       tooltip="1 = unchanged; below 1 desaturates, above 1 saturates."),
        io.Float.Input("brightness", default=defaults.brightness, min=-1.0, max=1.0, step=0.01,
                       tooltip="0 = unchanged; +0.05 = 5 % brighter, -0.05 = 5 % darker."),
    ], "colour_method", "colour_strength", "saturation", "brightness")


def post_checks(filename=None, folder=None, colour_match=None, colour_method=None) -> list:
    return [
        lambda: not filename or check_relative(split_annotation(filename, "output")[0], "filename"),
        lambda: folder is None or check_choice(folder, FILE_FOLDERS, "folder"),
        lambda: colour_match is None or check_choice(colour_match, COLOUR_MATCH_MODES, "colour_match"),
        lambda: colour_method is None or check_choice(colour_method, COLOUR_METHODS, "colour_method"),
    ]


def recipe_input() -> io.Input:
    return RECIPE.Input("recipe", optional=True,
                        tooltip="How segments are generated (Segue Recipe: Wan VACE models, sampler, LoRAs...). "
                                "Not connected = the CPU preview generator (no model).")


def keep_input() -> io.Input:
    return advanced([io.Boolean.Input("keep_segments", default=False,
                                      tooltip="Keep the lossless segment files in output/segue/steps/ (re-stitch "
                                              "them later with Segue Stitch Files); off = temp/, cleared when "
                                              "ComfyUI restarts.")])[0]


def output_images_input(what: str) -> io.Input:
    return advanced([io.Boolean.Input("output_images", default=False,
                                      tooltip=f"Also decode the {what} to the images output (costs RAM on long "
                                              f"videos; off = the images output is blocked).")])[0]


def video_images_outputs(what: str) -> list:
    """The outputs of a one-node run: its MP4 as a VIDEO, and its frames when asked for."""
    return [video_output(what),
            io.Image.Output(display_name="images", tooltip=f"The {what}'s frames as IMAGE; only when output_images "
                                                           f"is on.")]


def file_fingerprint(names: list[str], default: str = "input") -> tuple:
    """(name, mtime, size) per file; a missing or refused name fingerprints as such (the node's
    validation or execution reports it)."""
    out = []
    for name in names:
        try:
            path = resolve_input(name, folders(), "file", default)
            st = os.stat(path)
            out.append((name, st.st_mtime_ns, st.st_size))
        except (PathError, OSError) as e:
            out.append((name, "unreadable", str(e)))
    return tuple(out)


GENERATION_KEYFRAMES = ("All keyframes as one batch (Segue Load Images), in order, at the generation size "
                        "(multiples of 16).")


def keyframes_input(optional: bool = False, tooltip: str = "All keyframes as one batch (Segue Load Images), "
                                                           "in order.") -> io.Input:
    return io.Image.Input("keyframes", optional=optional, tooltip=tooltip)


def segment_index_input(tooltip: str = "Which segment: 0 = keyframe 0 -> 1, 1 = keyframe 1 -> 2, ...") -> io.Input:
    return io.Int.Input("segment_index", default=0, min=0, max=10_000, tooltip=tooltip)


def after_input() -> io.Input:
    """A final node's ordering input: it waits for this VIDEO, and reads its files by name."""
    return io.Video.Input("after", optional=True,
                          tooltip="Optional: any VIDEO this node must wait for (e.g. the last saved segment), only to "
                                  "order the run; the files are read by name.")


def colour_inputs(defaults) -> list:
    """The colour correction of generated frames (a recipe's, a step saver's): match toward what
    they continue or the first keyframe, by Lab or RGB, how much; ``defaults`` a ``PostSettings``
    or ``Recipe`` (the same fields)."""
    return [
        io.Combo.Input("colour_match", options=list(COLOUR_MATCH_MODES), default=defaults.colour_match,
                       tooltip="Keep colours steady: previous = match the frames to what they continue, "
                               "first_keyframe = to the first keyframe, none = as generated."),
        io.Combo.Input("colour_method", options=list(COLOUR_METHODS), default=defaults.colour_method,
                       tooltip="lab: brightness and tint matched separately (best); rgb: per colour channel."),
        io.Float.Input("colour_strength", default=defaults.colour_strength, min=0.0, max=1.0, step=0.05,
                       tooltip="How much of the colour correction is applied (0 = none, 1 = all)."),
    ]


def files_input(name: str, what: str, linked: bool = False, optional: bool = False) -> io.Input:
    """A multiline list of files by annotated name, one per line (``linked``: usually a Segue File
    List's output)."""
    link = " Can be linked from a Segue File List." if linked else ""
    return io.String.Input(name, multiline=True, default="", optional=optional,
                           tooltip=f"{what}, in order, one per line, relative to input/ or with ' [output]' / "
                                   f"' [temp]' (e.g. 'segue/run1/seg_000.mkv [output]').{link}")


def step_input(tooltip: str = "The segment/transition to generate: a Segue Travel, Join or Extend Step.") -> io.Input:
    return STEP.Input("step", tooltip=tooltip)


def travel_segment_inputs() -> list:
    """Which segment of which travel (SegueTravelGuide, SegueTravelStep, SegueTravelSegment)."""
    return [keyframes_input(tooltip=GENERATION_KEYFRAMES), segment_index_input(), *travel_settings_inputs()]


def video_output(what: str) -> io.Output:
    return io.Video.Output(display_name="video", tooltip=f"The {what} as a file-backed MP4 VIDEO.")
