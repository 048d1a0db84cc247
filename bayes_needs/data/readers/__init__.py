"""Readers of the real public data, and the England area-data builder.

The sources are IoD2019, ONS lookups and populations, DfE children's social care tables and
RO3 spend; :func:`england_area_data` joins them into an :class:`~bayes_needs.data.area.AreaData`
for one year, and :func:`england_panel_data` into a multi-year
:class:`~bayes_needs.data.panel.PanelData`.

Each reader takes the data directory and returns a tidy :class:`pandas.DataFrame`; every
malformed input raises a :class:`~bayes_needs.core.errors.BayesNeedsError` naming the file,
column, line or code.
"""

from bayes_needs.data.readers.dfe import read_dfe_service
from bayes_needs.data.readers.england import (
    EnglandDataReport,
    available_years,
    england_area_data,
    la_service_counts,
)
from bayes_needs.data.readers.england_panel import (
    DEFAULT_INDICATORS,
    INDICATORS,
    PanelReport,
    england_panel_data,
)
from bayes_needs.data.readers.harmonise import harmonise_to_utla23
from bayes_needs.data.readers.iod import read_iod2019
from bayes_needs.data.readers.lookups import (
    england_geography,
    read_la_numbers,
    read_lookup,
    read_predecessor_crosswalk,
)
from bayes_needs.data.readers.population import read_la_child_population, read_lsoa_child_population
from bayes_needs.data.readers.ro3 import read_ro3

__all__ = [
    "DEFAULT_INDICATORS",
    "INDICATORS",
    "EnglandDataReport",
    "PanelReport",
    "available_years",
    "england_area_data",
    "england_geography",
    "england_panel_data",
    "harmonise_to_utla23",
    "la_service_counts",
    "read_dfe_service",
    "read_iod2019",
    "read_la_child_population",
    "read_la_numbers",
    "read_lookup",
    "read_lsoa_child_population",
    "read_predecessor_crosswalk",
    "read_ro3",
]
