"""A small hand-made panel for tests of returns: two LAs, three MSOAs, seven LSOAs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_needs.data.geography import Geography
from bayes_needs.data.panel import PanelData

# E1: 2 MSOAs x 2 LSOAs; E2: 1 MSOA x 3 LSOAs.
NESTING = {"E1": {"M1": ["L1", "L2"], "M2": ["L3", "L4"]},
           "E2": {"M3": ["L5", "L6", "L7"]}}


def small_panel(count: float = 40.0, services=("cin", "cla")) -> PanelData:
    """The panel: every LA has ``count`` of each service in 2020 and 2021 (2022 exposure only)."""
    rows = [{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la,
             "lsoa_name": f"{lsoa} name", "msoa_name": f"{msoa} name", "la_name": f"{la} name"}
            for la, msoas in NESTING.items() for msoa, lsoas in msoas.items() for lsoa in lsoas]
    geo = Geography.from_frame(pd.DataFrame(rows), lsoa_name="lsoa_name",
                               msoa_name="msoa_name", la_name="la_name")
    n = geo.n_lsoa
    lsoa = pd.DataFrame({"lsoa_code": geo.lsoa_codes, "weight": 10.0 + np.arange(n),
                         "idaci": np.linspace(-1.0, 1.0, n)})
    exposure = pd.DataFrame([(la, y, 1000.0) for la in NESTING for y in (2020, 2021, 2022)],
                            columns=["la_code", "year", "exposure"])
    counts = pd.DataFrame([(s, la, y, count) for s in services for la in NESTING
                           for y in (2020, 2021)],
                          columns=["service", "la_code", "year", "count"])
    return PanelData.from_frames(geo, lsoa, exposure, counts, covariates=["idaci"])
