"""Pictures of results: image grids and interpolation strips (Pillow), curves and comparison figures (matplotlib).

Everything takes display-space data (uint8 0..255 images, plain float curves) and writes PNGs atomically.
"""

from genlab.viz.grid import make_grid, save_grid, save_image, save_strip, to_uint8_nchw
from genlab.viz.plots import plot_curves, save_figure, side_by_side

__all__ = [
    "make_grid",
    "plot_curves",
    "save_figure",
    "save_grid",
    "save_image",
    "save_strip",
    "side_by_side",
    "to_uint8_nchw",
]
