"""Returns below LA level for a panel: counts per LSOA or per MSOA, for some services and years.

Some LAs can say where their children live: a count per LSOA (or per MSOA) of the children
they served in a year. The panel model (:mod:`bayes_needs.models.panel`) takes such returns
as the split of their total over the returned areas, which informs its within-LA needs
gradient (:mod:`bayes_needs.models.panel_returns`).

The table is long, one row per area and year: ``service, level, area_code, year, count`` with
``level`` ``"lsoa"`` or ``"msoa"`` and an optional ``la_code`` (the LA the area is stated to
lie in, checked against the geography). An area left out is not returned (not zero): list
every area an LA returned, zeros included. For one service, LA and year every row must be at
one level. :meth:`PanelReturns.from_frame` checks everything against the panel at once and
raises one :class:`~bayes_needs.core.errors.DataValidationError` naming the file, line,
service, area code and year of every problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, MissingDataError
from bayes_needs.data._container_checks import hash_frame
from bayes_needs.data._panel_checks import LA_CODE
from bayes_needs.data._returns_checks import (
    RETURN_COLUMNS,
    RETURN_LEVELS,
    TABLE_COLUMNS,
    check_rows,
)
from bayes_needs.data.panel import PanelData
from bayes_needs.data.readers._files import read_text_csv
from bayes_needs.data.validation import raise_if

__all__ = ["RETURN_COLUMNS", "RETURN_LEVELS", "TABLE_COLUMNS", "PanelReturns",
           "panel_data_hash"]



@dataclass(frozen=True, eq=False)
class PanelReturns:
    """Validated LSOA and MSOA returns of a panel.

    Build it with :meth:`from_frame` or :meth:`from_csv`.

    Attributes
    ----------
    table
        Columns :data:`TABLE_COLUMNS` (``la_code`` from the geography, ``year`` and ``count``
        integers), sorted by service (panel order), year, LA, level and area (geography
        order).
    geography_fingerprint
        :meth:`~bayes_needs.data.geography.Geography.fingerprint` of the panel's geography.
    source
        Where the returns came from.
    """

    table: pd.DataFrame
    geography_fingerprint: str
    source: str = "panel returns"

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, panel: PanelData, *,
                   source: str = "panel returns") -> PanelReturns:
        """Validate a returns table against ``panel``, reporting every problem at once.

        Parameters
        ----------
        frame
            Columns :data:`RETURN_COLUMNS`, optionally ``la_code`` (the stated LA of each
            area) and ``file``/``line`` (used in messages; :meth:`from_csv` adds ``line``).
        panel
            The panel the returns belong to (geography, services, years, LSOA weights).
        source
            Label of the table in messages.

        Returns
        -------
        PanelReturns
            The validated returns.

        Raises
        ------
        DataValidationError
            Listing every problem: a missing column, a service or year not in the panel, a
            level other than ``lsoa``/``msoa``, an area code unknown at its level or not in
            its stated LA, a count that is not a non-negative whole number, duplicate
            (service, level, area, year) rows, an LA returning one service and year at both
            levels, a positive count in an area without children in the panel's weights.
        """
        table, problems = check_rows(frame, panel, source)
        raise_if([str(p) for p in problems], source)
        assert table is not None  # no problems
        return cls(table=table, geography_fingerprint=panel.geography.fingerprint(),
                   source=source)

    @classmethod
    def from_csv(cls, path: str | Path, panel: PanelData) -> PanelReturns:
        """Read and validate a returns CSV (columns as in :meth:`from_frame`).

        Parameters
        ----------
        path
            The CSV file (UTF-8, optionally compressed; see
            :func:`~bayes_needs.data.readers._csv.read_csv_rows`); messages name it and its
            lines.
        panel
            The panel the returns belong to.

        Returns
        -------
        PanelReturns
            The validated returns.

        Raises
        ------
        MissingDataError
            If the file does not exist.
        DataValidationError
            If the file is unreadable or any row is invalid (see :meth:`from_frame`).
        """
        path = Path(path)
        if not path.is_file():
            raise MissingDataError(f"returns file {path} does not exist")
        frame = read_text_csv(path, RETURN_COLUMNS, optional=(LA_CODE,))
        return cls.from_frame(frame, panel, source=str(path))

    # ------------------------------------------------------------------ views
    @property
    def services(self) -> tuple[str, ...]:
        """Services with returns, in table order."""
        return tuple(pd.unique(self.table[dims.SERVICE]))

    @property
    def years(self) -> tuple[int, ...]:
        """Years with returns, ascending."""
        return tuple(sorted(int(y) for y in pd.unique(self.table[dims.YEAR])))

    def __len__(self) -> int:
        """Return the number of returned counts."""
        return len(self.table)

    def data_hash(self) -> str:
        """Hash the returns (and the geography they were checked against), stably.

        Returns
        -------
        str
            The first 16 hex digits of a SHA-256 (the label ``source`` is left out).
        """
        h = hashlib.sha256(self.geography_fingerprint.encode())
        hash_frame(h, self.table.reset_index(drop=True))
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Return a JSON-able description: source, rows, services, levels, years, LAs, hash."""
        t = self.table
        return {"source": self.source, "rows": len(t), "services": list(self.services),
                "levels": sorted(set(t["level"])), "years": list(self.years),
                "las": int(t[LA_CODE].nunique()), "data_hash": self.data_hash()}

    def checked_for(self, panel: PanelData) -> PanelReturns:
        """Return ``self`` after checking it was validated against ``panel``'s geography.

        Raises
        ------
        ConfigError
            If the geography differs (validate the returns against this panel).
        """
        if panel.geography.fingerprint() != self.geography_fingerprint:
            raise ConfigError(f"{self.source}: the returns were validated against another "
                              f"geography than that of {panel.source}; read them again with "
                              f"this panel")
        return self

    def restrict(self, services: Iterable[str], years: Iterable[int]) -> PanelReturns:
        """Keep the returns of ``services`` in ``years`` (e.g. a model's fitted years).

        Parameters
        ----------
        services, years
            What to keep; others are dropped silently.

        Returns
        -------
        PanelReturns
            The subset, possibly empty.
        """
        t = self.table
        keep = t[dims.SERVICE].isin(list(services)) & t[dims.YEAR].isin(
            [int(y) for y in years])
        return replace(self, table=t[keep].reset_index(drop=True))


def panel_data_hash(panel: PanelData, returns: PanelReturns | None) -> str:
    """Hash a panel together with its returns (the panel's own hash when there are none).

    Parameters
    ----------
    panel
        The panel.
    returns
        Its returns, or ``None``.

    Returns
    -------
    str
        16 hex digits.
    """
    if returns is None:
        return panel.data_hash()
    joined = f"{panel.data_hash()}+{returns.data_hash()}"
    return hashlib.sha256(joined.encode()).hexdigest()[:16]
