"""Argument types and helpers shared by CLI commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bayes_needs.core.errors import ConfigError, MissingDataError


def existing_dir(value: str) -> Path:
    """argparse type: a directory that exists."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory does not exist: {value}")
    return path


def existing_file(value: str) -> Path:
    """argparse type: a file that exists."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file does not exist: {value}")
    return path


def non_negative_int(value: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {number}")
    return number


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    number = non_negative_int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def probability(value: str) -> float:
    """argparse type: a probability strictly between 0 and 1."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {number}")
    return number


def positive_float(value: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value}")
    return number


def output_dir(value: str) -> Path:
    """argparse type: an output directory (created if missing; must not be a file)."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"output path exists and is not a directory: {value}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """Raise :class:`MissingDataError` if ``path`` is not a directory."""
    if not path.is_dir():
        raise MissingDataError(f"{what} {path} does not exist or is not a directory")
    return path


def print_json(obj) -> None:
    """Print one JSON object on stdout."""
    json.dump(obj, sys.stdout, indent=None, sort_keys=True, default=str)
    sys.stdout.write("\n")


def fail(message: str) -> None:
    """Raise a user error with ``message``."""
    raise ConfigError(message)
