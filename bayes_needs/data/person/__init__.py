"""Person-based resource allocation (PBRA) inputs built from child records.

Exact collapsing of child records to sufficient statistics, coverage top-up to ONS
populations, and the helpers the person demand model (:mod:`bayes_needs.models.person`) is
built on.
"""

from __future__ import annotations

from bayes_needs.data.person.collapse import (
    CollapsedCells,
    collapse_dask,
    collapse_frame,
    collapse_frames,
    collapse_parquet,
    collapse_person_data,
)
from bayes_needs.data.person.topup import TopUp, top_up

__all__ = ["CollapsedCells", "TopUp", "collapse_dask", "collapse_frame", "collapse_frames",
           "collapse_parquet", "collapse_person_data", "top_up"]
