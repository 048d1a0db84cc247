"""LOO with each LA left out, on a fit in memory and on one read back from ``fit.nc``."""

from __future__ import annotations

import numpy as np
from area_fits import tiny_area_data

from bayes_needs.checks import diagnostics
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.models.area import AreaDemandModel


def test_la_log_likelihood_of_a_saved_fit_matches_the_fit_in_memory(tmp_path, mocked_sampler):
    # A saved fit.nc carries its log-likelihood per level for ArviZ (thinned, one variable
    # per level); the LA blocks must come out as from the model's own per-service terms.
    area = AreaDemandModel(tiny_area_data(), {"family": "poisson"})
    idata = area.fit(random_seed=1, draws=10, chains=2)
    path = area.save(idata, tmp_path / "fit.nc")
    _, loaded = AreaDemandModel.load(path, area.data)
    assert idata_io.log_likelihood(loaded) is not None  # the ArviZ layout, not the model's
    from_file = diagnostics.log_likelihood_by_la(area, loaded)
    in_memory = diagnostics.log_likelihood_by_la(area, diagnostics.log_densities(area, idata))
    assert from_file.sizes == in_memory.sizes
    np.testing.assert_allclose(from_file.to_numpy(), in_memory.to_numpy(), rtol=1e-6)
    # 20 mocked draws give no usable k-hat; what matters is one row per LA with data.
    table = diagnostics.loo_by_la(area, loaded).table
    observed = area.data.la_totals().notna().to_numpy().any(axis=1)
    assert sorted(table["la_code"]) == sorted(area.data.geography.codes(dims.LA)[observed])
