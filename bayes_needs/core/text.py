"""Small text helpers shared by the writers and the report."""

from __future__ import annotations

__all__ = ["count_of", "is_number"]


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float (``-1.5``), as a spreadsheet would show it."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def count_of(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` with its noun in the right number: ``1 LA``, ``3 LAs``."""
    word = singular if count == 1 else (plural or f"{singular}s")
    return f"{count} {word}"
