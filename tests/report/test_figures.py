"""Figures rendered to PNG bytes at the requested resolution."""

from __future__ import annotations

import io

from matplotlib import image as mpimg
from matplotlib.figure import Figure

from bayes_needs.report.figures import figure_png


def test_figure_png_renders_at_the_requested_dpi():
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [0, 1])
    for dpi in (50, 100):
        png = figure_png(fig, dpi=dpi)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        assert pixels.shape[:2] == (3 * dpi, 4 * dpi)
    assert mpimg.imread(io.BytesIO(figure_png(fig)), format="png").shape[:2] == (300, 400)
