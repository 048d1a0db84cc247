"""Matplotlib figures as PNG bytes, the one way the package renders a figure to a file."""

from __future__ import annotations

from io import BytesIO

from matplotlib.figure import Figure

#: Resolution of written figures unless a caller asks for another.
DEFAULT_DPI = 100


def figure_png(fig: Figure, *, dpi: int = DEFAULT_DPI) -> bytes:
    """Render a matplotlib figure as PNG bytes.

    Parameters
    ----------
    fig
        The figure (created with :class:`matplotlib.figure.Figure`, no pyplot state).
    dpi
        Resolution in dots per inch.

    Returns
    -------
    bytes
        The PNG file's contents, ready to write or embed.
    """
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
