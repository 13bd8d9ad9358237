"""Names and defaults shared by the nodes, the orchestrator, the local renderer and the planners.

One module, pure standard library, so the torch-free orchestrator and the torch-importing nodes
read the same values: a default changed here changes on every path at once (README, "Defaults").
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

# x264 presets offered for the final H.264 video.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
DEFAULT_PRESET = "medium"
DEFAULT_CRF = 19

# Cross-fade weight curves (engine.crossfade).
CURVES = ("cosine", "linear")
DEFAULT_CURVE = "cosine"

# Travels: chained = each segment continues the previous one's last frames; independent = each
# segment anchored on its own keyframes (core.travel_plan).
TRAVEL_MODES = ("chained", "independent")
DEFAULT_TRAVEL_MODE = "chained"

# How footage and keyframes of another shape reach a size (engine.conform): crop = centre-crop
# then resize, pad = letterbox/pillarbox with black, stretch = distort.
CONFORM_FIT_MODES = ("crop", "pad", "stretch")
DEFAULT_FIT = "crop"

# Generated frames from the generation rate to the output rate (engine.retimer): blend mixes the
# two neighbouring frames by time, nearest repeats or drops them.
RETIME_MODES = ("nearest", "blend")
DEFAULT_RETIME = "blend"

# What a join's generated gaps sound like (core.sound_timeline).
GAP_AUDIO_MODES = ("crossfade", "cut", "silence")
DEFAULT_GAP_AUDIO = "crossfade"

# The CPU preview generator's ways of filling the frames to generate (engine.preview_generator).
PREVIEW_METHODS = ("flow", "blend")
DEFAULT_PREVIEW_METHOD = "flow"

# How each segment / transition gets its seed from the run's seed.
SEED_POLICIES = ("increment", "fixed")
DEFAULT_SEED_POLICY = "increment"

# Files Segue reads as keyframes / clips.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".gif")

# Segments and transitions pass between steps as exactly lossless Matroska (libx264rgb qp 0);
# the final video is H.264 in MP4.
LOSSLESS_SUFFIX = ".mkv"
# The container tag of Segue's lossless intermediates (video_write): frame i shown at i/fps, no
# gaps, no sound. The probe then counts their frames from the last group of pictures instead of
# demuxing the whole file (a 2,000-frame 832x480 intermediate is 1.7 GB).
OWN_TIMELINE_TAG = ("SEGUE_TIMELINE", "constant")
FINAL_SUFFIX = ".mp4"

# Wan is trained at 16 fps: segments and transitions are generated (and their files stored) at
# this rate, then retimed to the output rate.
GENERATION_FPS = Fraction(16)

# Longest prompt accepted: Wan's umT5 encoder reads about 512 tokens, so a longer text is a
# mistake (a pasted file), refused before it is stored in the history or tokenised.
MAX_PROMPT_CHARS = 20_000

# Where intermediate files of a one-node travel/join go.
FILE_FOLDERS = ("temp", "output")

# Colour correction of generated frames (engine.postprocess).
COLOUR_MATCH_MODES = ("none", "previous", "first_keyframe")
DEFAULT_COLOUR_MATCH = "none"
COLOUR_METHODS = ("lab", "rgb")
DEFAULT_COLOUR_METHOD = "lab"

# Plan defaults, the same for the nodes' widgets, plan files and the command line.
DEFAULT_SEGMENT_FRAMES = 48          # frames from one keyframe to the next (3 s at 16 fps)
DEFAULT_OVERLAP = 8                  # frames shared (cross-faded) by neighbouring segments
DEFAULT_JOIN_CONTEXT = 8             # frames of each clip kept around a transition
DEFAULT_JOIN_GAP = 53                # frames generated between them (the original's default)
DEFAULT_JOIN_PROMPT = "smooth transition"
DEFAULT_EXTEND_FRAMES = 48
MAX_SHARPEN = 1.0                    # unsharp mask over cross-faded frames (the original's 0.3)

# The keyframes bundled with the pack (``segue demo``, the samples installed into ComfyUI's input/).
BUNDLED_KEYFRAMES = Path(__file__).resolve().parents[2] / "assets" / "keyframes"
