"""Children looked after on 31 March of a year without a published stock, from the flows.

A stock obeys ``on 31 March T-1 = on 31 March T - started in year T + ceased in year T``,
the year T running to 31 March T. DfE publishes CLA by LA from 2019 only
(``dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv``), but that file
also holds the children starting and ceasing to be looked after in each year, so the stock
on 31 March 2018 follows from 2019's figures. Where both years are published (2020-2025,
897 LA-years) the identity reproduces the previous stock with a median absolute log error
of 0.5% (mean +0.6%, sd 0.7%; a child who both starts and ceases within a year, or has two
episodes, breaks it slightly), against year-on-year changes whose sd is 7%.

:func:`reconstruct_cla_stocks` fills every missing CLA LA-year T-1 whose year T has a stock
and both flows (after harmonisation to the 153 current LAs, so reorganised LAs are covered
like any published figure). Each filled value has ``origin`` :data:`RECONSTRUCTED`, a
``detail`` giving the sum, and ``known_in`` T: it uses year T's data, so
:meth:`bayes_needs.data.panel.PanelData.up_to` holds it out of any fit that stops before T.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.data.panel import KNOWN_IN
from bayes_needs.data.readers.dfe import SERVICE_SOURCES, EesSource, read_ees_la_table
from bayes_needs.data.readers.harmonise import harmonise_to_utla23

#: ``origin`` of a CLA stock rebuilt from the next year's stock and flows.
RECONSTRUCTED = "reconstructed"
_STOCK = SERVICE_SOURCES[dims.CLA]
#: The flows, in the same file as the stock.
FLOW_SOURCES: dict[str, EesSource] = {
    "started": EesSource(_STOCK.path, _STOCK.value_column,
                         "children starting to be looked after in the year to 31 March",
                         filter_column=_STOCK.filter_column,
                         filter_value="Children starting to be looked after each year"),
    "ceased": EesSource(_STOCK.path, _STOCK.value_column,
                        "children ceasing to be looked after in the year to 31 March",
                        filter_column=_STOCK.filter_column,
                        filter_value="Children ceasing to be looked after each year"),
}


def reconstruct_cla_stocks(root: Path, counts: pd.DataFrame, crosswalk: pd.DataFrame,
                           la_codes: np.ndarray) -> pd.DataFrame:
    """Fill missing CLA stocks from the next year's stock and flows (module docstring).

    Parameters
    ----------
    root
        The data directory.
    counts
        Long harmonised counts ``service, la_code, year, count, code, origin, detail, file,
        line`` (England panel reader).
    crosswalk
        The predecessor crosswalk the counts were harmonised with.
    la_codes
        The current LA codes.

    Returns
    -------
    pandas.DataFrame
        ``counts`` with the filled rows replaced and a ``known_in`` column (NaN: the row's
        own year).
    """
    counts = counts.assign(**{KNOWN_IN: np.nan})
    cla = counts["service"] == dims.CLA
    if not cla.any():
        return counts
    flows = {name: _harmonised_flow(root, source, crosswalk, la_codes)
             for name, source in FLOW_SOURCES.items()}
    stock = counts[cla].pivot(index="la_code", columns=dims.YEAR, values="count")
    started = flows["started"].reindex_like(stock)
    ceased = flows["ceased"].reindex_like(stock)
    years = [int(y) for y in stock.columns]
    for year in years:
        if year - 1 not in years:
            continue
        now, start, stop = (stock[year].to_numpy(float), started[year].to_numpy(float),
                            ceased[year].to_numpy(float))
        rebuilt = now - start + stop
        fill = np.isnan(stock[year - 1].to_numpy(float)) & np.isfinite(rebuilt) & (rebuilt >= 0)
        codes = stock.index.to_numpy()
        for i in np.flatnonzero(fill):
            row = cla & (counts["la_code"] == codes[i]) & (counts[dims.YEAR] == year - 1)
            counts.loc[row, ["count", "origin", "code", KNOWN_IN]] = [
                rebuilt[i], RECONSTRUCTED, "", year]
            counts.loc[row, "detail"] = (
                f"{now[i]:.0f} on 31 March {year} - {start[i]:.0f} started + {stop[i]:.0f} "
                f"ceased in the year to 31 March {year}")
    return counts


def _harmonised_flow(root: Path, source: EesSource, crosswalk: pd.DataFrame,
                     la_codes: np.ndarray) -> pd.DataFrame:
    """One CLA flow harmonised to the current LAs: LA x year, NaN where missing."""
    table = read_ees_la_table(root, source)
    years = sorted(int(y) for y in table["year"].unique())
    columns = {}
    for year in years:
        one = harmonise_to_utla23(table[table["year"] == year], crosswalk, la_codes,
                                  source=str(root / source.path))
        columns[year] = one.set_index("la_code")["value"]
    frame = pd.DataFrame(columns)
    frame.columns.name = dims.YEAR
    return frame
