"""In-memory archives for tests of compressed and archived inputs."""

from __future__ import annotations

import io
import zipfile


def zipped(*members: tuple[str, str]) -> bytes:
    """A zip archive holding each ``(name, text)`` member, as bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members:
            archive.writestr(name, text)
    return buffer.getvalue()
