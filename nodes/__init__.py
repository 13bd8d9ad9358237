"""ComfyUI adapters over video_utils: schemas, tooltips, validation, progress."""
