"""Random child records on a small geography and the cell sums a plain groupby gives, shared
by the collapse, Dask and top-up tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_needs.data.geography import Geography


def small_geography() -> Geography:
    """Six LSOAs in three MSOAs in two LAs."""
    frame = pd.DataFrame({
        "lsoa_code": [f"L{i}" for i in range(6)],
        "msoa_code": ["M0", "M0", "M1", "M1", "M2", "M2"],
        "la_code": ["A", "A", "A", "A", "B", "B"]})
    return Geography.from_frame(frame)


SERVICES = ("cin", "cla")


def random_records(geography: Geography, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "child_id": np.arange(n),
        "lsoa_code": rng.choice(geography.lsoa_codes, n),
        "age_band": rng.choice(["0-4", "5-9", "10-15", "16-17"], n),
        "sex": rng.choice(["F", "M"], n),
        "fsm": rng.choice(["N", "Y"], n, p=[0.7, 0.3]),
        "exposure": np.where(rng.random(n) < 0.8, 1.0, rng.random(n)),
        "cin": rng.poisson(0.4, n),
        "cla": rng.poisson(0.1, n),
        "notes": "free text that is never read",
    })


def expected_cells(records: pd.DataFrame) -> pd.DataFrame:
    """Cell sums by a plain pandas groupby on the labels."""
    return (records.groupby(["lsoa_code", "age_band", "sex", "fsm"])
            .agg(children=("exposure", "size"), exposure=("exposure", "sum"),
                 cin=("cin", "sum"), cla=("cla", "sum"))
            .sort_index())


def as_frame(cells) -> pd.DataFrame:
    """Collapsed cells back to labels, indexed like :func:`expected_cells`."""
    patterns = cells.pattern_frame().iloc[cells.pattern].reset_index(drop=True)
    frame = pd.DataFrame({"lsoa_code": cells.geography.lsoa_codes[cells.lsoa],
                          **{c: patterns[c] for c in ("age_band", "sex", "fsm")},
                          "children": cells.children, "exposure": cells.exposure,
                          **{s: cells.counts[:, j] for j, s in enumerate(cells.services)}})
    return frame.set_index(["lsoa_code", "age_band", "sex", "fsm"]).sort_index()


def assert_same_cells(cells, records: pd.DataFrame) -> None:
    got, want = as_frame(cells), expected_cells(records)
    assert got.index.equals(want.index)
    np.testing.assert_array_equal(got["children"], want["children"])
    np.testing.assert_allclose(got["exposure"], want["exposure"], rtol=1e-12)
    for s in SERVICES:
        np.testing.assert_array_equal(got[s], want[s])
