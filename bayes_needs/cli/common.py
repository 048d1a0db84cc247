"""Argument types and helpers shared by CLI commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def existing_dir(value: str) -> Path:
    """Parse a directory that exists (an argparse type)."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory does not exist: {value}")
    return path


def existing_file(value: str) -> Path:
    """Parse a file that exists (an argparse type)."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file does not exist: {value}")
    return path


def whole_number(value: str) -> int:
    """Parse a whole number (an argparse type); its range is checked where it is used.

    Options that set a run-config field use this, so the run config is the one place their
    values are validated.
    """
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None


def number(value: str) -> float:
    """Parse a number (an argparse type); its range is checked where it is used."""
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None


def non_negative_int(value: str) -> int:
    """Parse a whole number >= 0 (an argparse type)."""
    parsed = whole_number(value)
    if parsed < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {parsed}")
    return parsed


def positive_int(value: str) -> int:
    """Parse a whole number >= 1 (an argparse type)."""
    parsed = non_negative_int(value)
    if parsed < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {parsed}")
    return parsed


def probability(value: str) -> float:
    """Parse a probability strictly between 0 and 1 (an argparse type)."""
    parsed = number(value)
    if not 0 < parsed < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {parsed}")
    return parsed


def positive_float(value: str) -> float:
    """Parse a finite number > 0 (an argparse type)."""
    parsed = number(value)
    if not (math.isfinite(parsed) and parsed > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value}")
    return parsed


def output_dir(value: str) -> Path:
    """Parse an output directory (created when written; must not be a file nor empty)."""
    if not value:
        # Path("") is the current directory: outputs would land among the user's own files.
        raise argparse.ArgumentTypeError("empty path; name the output directory (use '.' "
                                         "for the current directory)")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"output path exists and is not a directory: {value}")
    return path


def print_json(obj: object) -> None:
    """Print ``obj`` as one line of JSON on stdout."""
    json.dump(obj, sys.stdout, indent=None, sort_keys=True, default=str)
    sys.stdout.write("\n")

