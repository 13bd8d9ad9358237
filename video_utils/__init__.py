"""Pure torch/numpy/PyAV/OpenCV video engine of Segue. No ComfyUI imports; planning modules import no torch."""
