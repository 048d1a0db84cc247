"""Hex layouts of LAs for maps: England's districts shipped with the package, or a grid.

:func:`england_hexes` reads the Open Innovations hex layout of the UK's local authority
districts of 2023 (``maps/uk-local-authority-districts-2023.hexjson``, MIT licence), shipped
inside the package with its notice (``maps/NOTICE.md``). Each of England's 296 districts is
one hex, tagged with its upper-tier authority (the children's-services LA whose code the
package uses) from a district -> LA mapping the caller derives from the run's own data
(:func:`bayes_needs.data.readers.lookups.district_las`), so an LA's value colours every hex
of its districts. :func:`grid_hexes` lays LAs out on a grid in code order, which shows
values, not geography: for runs without that mapping (synthetic data) or whose LAs it does
not cover.
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

#: The packaged hex layout, relative to the ``bayes_needs.data`` package.
HEXJSON_FILE = "maps/uk-local-authority-districts-2023.hexjson"
#: District codes of England start with this letter (the hexjson covers the UK).
ENGLAND_PREFIX = "E"
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
def _hexjson() -> tuple[str, dict[str, dict]]:
    """Read the packaged layout once: its name and its English hexes, checked."""
    raw = json.loads(resources.files("bayes_needs.data").joinpath(HEXJSON_FILE)
                     .read_text(encoding="utf-8"))
    layout = str(raw.get("layout"))
    problems = [] if layout in _ROW_LAYOUTS else [
        f"layout {layout!r} is not one of {sorted(_ROW_LAYOUTS)}"]
    english = {code: h for code, h in raw["hexes"].items()
               if code.startswith(ENGLAND_PREFIX)}
    problems += [f"hex {code} has no integer q and r" for code, h in english.items()
                 if not all(isinstance(h.get(k), int) for k in ("q", "r"))]
    if problems:
        raise DataValidationError(HEXJSON_FILE, problems)
    return layout, english


def england_hexes(district_to_la: pd.Series, *, source: str = "the district -> LA mapping"
                  ) -> HexLayout:
    """Return England's districts of 2023 as hexes, each tagged with its LA code.

    Parameters
    ----------
    district_to_la
        LA code indexed by LAD 2023 district code, covering every English district
        (:func:`bayes_needs.data.readers.lookups.district_las`).
    source
        Where the mapping came from, named in errors.

    Returns
    -------
    HexLayout
        Geographic; ``hexes`` indexed by LAD 2023 code, ``la_code`` from ``district_to_la``.

    Raises
    ------
    DataValidationError
        Naming the hexjson file and every English district without an LA in the mapping and
        every mapped district without a hex (all problems at once).
    """
    layout, english = _hexjson()
    mapping = district_to_la.astype(str)
    mapping.index = mapping.index.astype(str)
    problems = [f"district {code} ({english[code]['n']}) has no LA in {source}"
                for code in sorted(set(english) - set(mapping.index))]
    problems += [f"district {code} of LA {mapping[code]} in {source} has no hex"
                 for code in sorted(set(mapping.index) - set(english))]
    if problems:
        raise DataValidationError(HEXJSON_FILE, problems)
    codes = sorted(english)
    hexes = pd.DataFrame({"name": [english[c]["n"] for c in codes],
                          "q": [english[c]["q"] for c in codes],
                          "r": [english[c]["r"] for c in codes],
                          "la_code": mapping.loc[codes].to_numpy()},
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


def hexes_for(la_codes: Sequence[str], district_to_la: pd.Series | None = None, *,
              source: str = "the district -> LA mapping") -> HexLayout:
    """England's districts when a district -> LA mapping covers every LA, else a grid.

    Parameters
    ----------
    la_codes
        The run's LA codes.
    district_to_la
        LA code indexed by LAD 2023 district code (see :func:`england_hexes`), or ``None``
        when the run has none (no real England data directory).
    source
        Where the mapping came from, named in errors.

    Returns
    -------
    HexLayout
        The layout to draw.

    Raises
    ------
    DataValidationError
        If the mapping and the packaged hexes disagree (see :func:`england_hexes`).
    """
    codes = set(map(str, la_codes))
    if district_to_la is not None and codes <= set(district_to_la.astype(str)):
        return england_hexes(district_to_la, source=source)
    return grid_hexes(la_codes)
