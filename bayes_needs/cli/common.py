"""Argument types and helpers shared by CLI commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


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


def names_from(values: Sequence[str], known: Iterable[str] | None = None) -> tuple[str, ...]:
    """Parse names given comma- or space-separated, in one argument or several.

    Parameters
    ----------
    values
        The option's arguments, e.g. ``["cin,cla"]``, ``["cin", "cla"]`` or ``["cin, cla"]``.
    known
        The names allowed; ``None`` leaves them to be checked where they are used.

    Returns
    -------
    tuple of str
        The names in the order given, blanks trimmed.

    Raises
    ------
    argparse.ArgumentTypeError
        For an empty item (``"cin,,cla"``, a leading or trailing comma, nothing at all), a
        repeated name or a name outside ``known``.
    """
    text = " ".join(values)
    names: list[str] = []
    for item in text.split(","):
        words = item.split()
        if not words:
            raise argparse.ArgumentTypeError(f"empty item in {text!r}; give names separated "
                                             f"by commas or spaces, e.g. 'a,b' or 'a b'")
        names.extend(words)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{', '.join(map(repr, repeated))} given more than "
                                         f"once in {text!r}")
    if known is not None:
        allowed = list(known)
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; "
                                             f"expected names from {allowed}")
    return tuple(names)


class NameList(argparse.Action):
    """Collect a list of names (an argparse action): ``--opt a,b``, ``--opt a b``, ``--opt "a, b"``.

    The option takes one or more arguments, parsed by :func:`names_from` into a tuple of
    names. A mistake there is a usage error naming the option (exit 2, no traceback).

    Parameters
    ----------
    option_strings, dest, **kwargs
        As for any :class:`argparse.Action`; ``nargs`` is always ``"+"``.
    known
        The names allowed; ``None`` (default) leaves them to be checked where they are used.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, *,
                 known: Iterable[str] | None = None, **kwargs: Any) -> None:
        if kwargs.pop("nargs", "+") != "+":
            raise ValueError("a NameList option takes one or more arguments (nargs='+')")
        super().__init__(option_strings, dest, nargs="+", **kwargs)
        self.known = None if known is None else tuple(known)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None,
                 option_string: str | None = None) -> None:
        """Store the parsed names, or stop with a usage error naming the option."""
        given = [values] if isinstance(values, str) else [str(v) for v in values or []]
        try:
            names = names_from(given, self.known)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, names)


def print_json(obj: object) -> None:
    """Print ``obj`` as one line of JSON on stdout."""
    json.dump(obj, sys.stdout, indent=None, sort_keys=True, default=str)
    sys.stdout.write("\n")

