"""Read the metadata sidecar (``<name>.meta.json``) of a CSV output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bayes_needs.core.writers import sidecar_name


def read_meta(csv_path: str | Path) -> dict[str, Any]:
    """The parsed sidecar of ``csv_path``."""
    path = Path(csv_path)
    meta: dict[str, Any] = json.loads(
        path.with_name(sidecar_name(path)).read_text(encoding="utf-8"))
    return meta


def description(csv_path: str | Path) -> str:
    """The sidecar's ``comment`` lines of ``csv_path``, joined by newlines."""
    return "\n".join(read_meta(csv_path)["comment"])
