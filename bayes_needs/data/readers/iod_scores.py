"""LA deprivation scores: the IMD 2019 score averaged over each upper-tier LA's LSOAs.

The IoD2019 merged LSOA file (:data:`~bayes_needs.data.readers.iod.IOD_FILE`) carries the
official LSOA IMD 2019 *score* (``imd_score``, from File 5; higher = more deprived), so no
rank transform is needed. The score of an LA (UTLA 2023, the 153 children's-services
authorities; :mod:`bayes_needs.data.readers.lookups`) is the weighted mean of the scores of
its LSOAs 2011. The weight is chosen by ``weight``:

* ``"children"`` (the default): the ONS mid-2019 LSOA population aged 0-17
  (:data:`~bayes_needs.data.readers.population.LSOA_POPULATION_FILE`), the same within-LA
  weights the England panel uses. It measures the deprivation of the area an average child of
  the LA lives in, which suits a check of children's-services need;
* ``"population"``: the total population mid-2015 (IoD2019 File 6), the weighting MHCLG uses
  for its official LA "average score" (this reproduces ``imd_score_popweighted`` of
  ``iod2019/iod2019_utla23_summary_derived.csv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.panel import LA_CODE
from bayes_needs.data.readers._files import require_files
from bayes_needs.data.readers.england import align_lsoas
from bayes_needs.data.readers.iod import IOD_FILE, read_iod2019
from bayes_needs.data.readers.lookups import LOOKUP_FILE, la_table, read_lookup
from bayes_needs.data.readers.population import (
    LSOA_POPULATION_FILE,
    read_lsoa_child_population,
)

#: Column of :func:`read_la_imd_scores` holding the LA score.
IMD_SCORE = "imd_score"
#: LSOA weights :func:`read_la_imd_scores` accepts -> (file, column of its reader).
WEIGHTS: dict[str, tuple[str, str]] = {
    "children": (LSOA_POPULATION_FILE, "population_0_17"),
    "population": (IOD_FILE, "population_mid2015"),
}
#: LSOA weight of the LA score unless the caller names another (see the module docstring).
LA_SCORE_WEIGHT = "children"


def read_la_imd_scores(data_dir: str | Path, *, weight: str = LA_SCORE_WEIGHT,
                       lookup: pd.DataFrame | None = None) -> pd.DataFrame:
    """Weighted mean IMD 2019 score of each upper-tier LA's LSOAs.

    Parameters
    ----------
    data_dir
        Directory holding the documented public data files.
    weight
        ``"children"`` (ONS mid-2019 LSOA population aged 0-17) or ``"population"`` (IoD2019
        File 6 total population mid-2015); see the module docstring.
    lookup
        The data directory's LSOA lookup if the caller has read it already
        (:func:`~bayes_needs.data.readers.lookups.read_lookup`), so it is not read again.

    Returns
    -------
    pandas.DataFrame
        Index ``la_code`` (the 153 UTLA 2023 codes, sorted); columns ``la_name``,
        ``imd_score`` (weighted mean LSOA IMD score, higher = more deprived), ``n_lsoa`` and
        ``weight`` (the LA's total weight). ``attrs["weight"]`` names the weighting.

    Raises
    ------
    ConfigError
        For an unknown ``weight``.
    MissingDataError
        Naming every required file that is missing.
    DataValidationError
        Naming the file and column of any malformed input, or the LA codes whose LSOAs carry
        no weight.
    """
    if weight not in WEIGHTS:
        raise ConfigError(f"weight must be one of {list(WEIGHTS)}, got {weight!r}")
    weight_file, weight_column = WEIGHTS[weight]
    require_files(data_dir, [LOOKUP_FILE, IOD_FILE, weight_file])
    root = Path(data_dir)
    if lookup is None:
        lookup = read_lookup(root)
    lsoa_codes = lookup["lsoa_code"].to_numpy()
    iod = align_lsoas(read_iod2019(root), lsoa_codes, str(root / IOD_FILE))
    source = iod if weight_file == IOD_FILE else align_lsoas(
        read_lsoa_child_population(root), lsoa_codes, str(root / weight_file))
    la_codes = lookup["la_code"].to_numpy()
    lsoa_weight = source[weight_column].to_numpy(dtype=float)
    frame = pd.DataFrame({LA_CODE: la_codes, "weighted": lsoa_weight *
                          iod[IMD_SCORE].to_numpy(dtype=float), "weight": lsoa_weight})
    totals = frame.groupby(LA_CODE).agg(weighted=("weighted", "sum"),
                                        weight=("weight", "sum"),
                                        n_lsoa=("weight", "size"))
    empty = totals.index[~(totals["weight"] > 0)]
    if len(empty):
        raise DataValidationError(str(root / weight_file), [
            f"column '{weight_column}' sums to 0 over every LSOA of LA code(s) "
            f"{list(empty)}, so their IMD score has no weight"])
    names = la_table(lookup, source=str(root / LOOKUP_FILE)).set_index(LA_CODE)["la_name"]
    table = pd.DataFrame({
        "la_name": names.reindex(totals.index).to_numpy(),
        IMD_SCORE: (totals["weighted"] / totals["weight"]).to_numpy(dtype=float),
        "n_lsoa": totals["n_lsoa"].to_numpy(dtype=np.int64),
        "weight": totals["weight"].to_numpy(dtype=float)},
        index=pd.Index(totals.index.astype(str), name=LA_CODE))
    table.attrs["weight"] = (f"{weight}: LSOA {weight_column} from "
                             f"{weight_file}")
    return table
