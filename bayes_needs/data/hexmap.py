"""Hex layouts of LAs for maps: England's districts shipped with the package, or a grid.

:func:`england_hexes` reads the Open Innovations hex layout of the UK's local authority
districts of 2023 (``maps/uk-local-authority-districts-2023.hexjson``, MIT licence) and the
ONS district -> upper-tier lookup (``maps/lad23_utla23_england.csv``, OGL v3), both shipped
inside the package with their notice (``maps/NOTICE.md``), so no data directory is needed.
Each of England's 296 districts is one hex, tagged with its upper-tier authority (the
children's-services LA whose code the package uses), so an LA's value colours every hex of
its districts. :func:`grid_hexes` lays LAs whose codes are not English upper-tier codes
(synthetic runs) on a grid in code order, which shows values, not geography.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError

#: The packaged hex layout and lookup, relative to the ``bayes_needs.data`` package.
HEXJSON_FILE = "maps/uk-local-authority-districts-2023.hexjson"
LOOKUP_FILE = "maps/lad23_utla23_england.csv"
#: HexJSON layouts with rows offset sideways (pointy-topped hexes): which rows move right.
_ROW_LAYOUTS = {"odd-r": 1, "even-r": 0}
#: Hexes in a row of the grid layout per hex in a column: England's layout is about as wide.
_GRID_ASPECT = 1.0


@dataclass(frozen=True)
class HexLayout:
    """Hexes of a map, each assigned to an LA.

    Attributes
    ----------
    hexes
        One row per hex, indexed by its code: ``name``, ``q`` (column), ``r`` (row, upwards),
        ``la_code`` (the LA it belongs to).
    layout
        HexJSON layout, ``"odd-r"`` or ``"even-r"`` (which rows are shifted half a hex).
    geographic
        Whether the hexes follow geography (England's districts) or a grid in code order.
    """

    hexes: pd.DataFrame
    layout: str
    geographic: bool

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return hex centres ``x, y`` for pointy-topped hexes one unit apart in a row."""
        q = self.hexes["q"].to_numpy(dtype=float)
        r = self.hexes["r"].to_numpy(dtype=np.int64)
        shifted = (r % 2) == _ROW_LAYOUTS[self.layout]
        return q + 0.5 * shifted, r * np.sqrt(3.0) / 2.0

    @property
    def la_codes(self) -> list[str]:
        """LA codes with at least one hex, sorted."""
        return sorted(set(self.hexes["la_code"]))


@cache
def england_hexes() -> HexLayout:
    """Return the 296 English districts of 2023 as hexes, each with its upper-tier LA code.

    Returns
    -------
    HexLayout
        Geographic; ``hexes`` indexed by LAD 2023 code, ``la_code`` the UTLA 2023 code.

    Raises
    ------
    DataValidationError
        If the packaged files disagree (a district without an upper tier, or the reverse).
    """
    package = resources.files("bayes_needs.data")
    raw = json.loads(package.joinpath(HEXJSON_FILE).read_text(encoding="utf-8"))
    layout = str(raw.get("layout"))
    if layout not in _ROW_LAYOUTS:
        raise DataValidationError(HEXJSON_FILE, [f"layout {layout!r} is not one of "
                                                 f"{sorted(_ROW_LAYOUTS)}"])
    with package.joinpath(LOOKUP_FILE).open("r", encoding="utf-8") as handle:
        lookup = pd.read_csv(handle, dtype=str).set_index("lad23cd")
    english = {code: h for code, h in raw["hexes"].items() if code in lookup.index}
    problems = [f"district {code} of {LOOKUP_FILE} has no hex"
                for code in sorted(set(lookup.index) - set(english))]
    problems += [f"hex {code} has no integer q and r" for code, h in english.items()
                 if not all(isinstance(h.get(k), int) for k in ("q", "r"))]
    if problems:
        raise DataValidationError(HEXJSON_FILE, problems)
    codes = sorted(english)
    hexes = pd.DataFrame({"name": [english[c]["n"] for c in codes],
                          "q": [english[c]["q"] for c in codes],
                          "r": [english[c]["r"] for c in codes],
                          "la_code": lookup.loc[codes, "utla23cd"].to_numpy()},
                         index=pd.Index(codes, name="lad23cd"))
    return HexLayout(hexes=hexes, layout=layout, geographic=True)


def grid_hexes(la_codes: Sequence[str]) -> HexLayout:
    """Lay LAs out on a roughly square grid of hexes in code order (not geography).

    Parameters
    ----------
    la_codes
        The LAs, one hex each.

    Returns
    -------
    HexLayout
        ``"odd-r"``, not geographic; rows run top to bottom, left to right.
    """
    codes = sorted(str(c) for c in la_codes)
    columns = max(1, int(np.ceil(np.sqrt(len(codes) * _GRID_ASPECT))))
    position = np.arange(len(codes))
    rows = int(np.ceil(len(codes) / columns))
    hexes = pd.DataFrame({"name": codes, "q": position % columns,
                          "r": rows - 1 - position // columns, "la_code": codes},
                         index=pd.Index(codes, name="code"))
    return HexLayout(hexes=hexes, layout="odd-r", geographic=False)


def hexes_for(la_codes: Sequence[str]) -> HexLayout:
    """England's districts when any LA code is an English upper-tier code, else a grid.

    Parameters
    ----------
    la_codes
        The run's LA codes.

    Returns
    -------
    HexLayout
        The layout to draw.
    """
    england = england_hexes()
    if set(map(str, la_codes)) & set(england.hexes["la_code"]):
        return england
    return grid_hexes(la_codes)
