"""Slow recovery test: the area model recovers a known synthetic truth.

Run with ``python -m pytest -m slow -s`` to see the measured coverage.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from area_fits import hide_la
from scipy.stats import binomtest

from bayes_needs.allocation import allocate
from bayes_needs.core import defaults, dims
from bayes_needs.core.intervals import credible_interval
from bayes_needs.data.area import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.need.area import expected_need
from bayes_needs.simulate.area import generate_area

PARAMETERS = ("intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion")
INTERVAL_PROB = 0.9
SEEDS = (101, 202, 303)


def _shares(synthetic, data: AreaData, seed: int) -> tuple[xr.Dataset, xr.DataArray]:
    """Posterior and needs-share draws of a fit of the area model to ``data``."""
    model = AreaDemandModel(data)
    # The package's default warm-up and sampler: this test is what keeps them.
    idata = model.fit(random_seed=seed, draws=600, tune=defaults.TUNE, chains=2,
                      progressbar=False)
    need = expected_need(model, idata, random_seed=seed)
    allocation = allocate(need["need"], synthetic.truth["unit_cost"],
                          interval_prob=INTERVAL_PROB, interval_kind="eti")
    return idata.posterior, allocation.draws["share"]


def _relative_width(share: xr.DataArray) -> np.ndarray:
    lower, upper = credible_interval(share, interval_prob=INTERVAL_PROB, interval_kind="eti")
    return ((upper - lower) / share.mean((dims.CHAIN, dims.DRAW))).to_numpy()


def _inside(draws: xr.DataArray, truth: xr.DataArray) -> np.ndarray:
    lower, upper = credible_interval(draws, interval_prob=INTERVAL_PROB, interval_kind="eti")
    truth = truth.transpose(*lower.dims)
    return ((lower <= truth) & (truth <= upper)).to_numpy().ravel()


@pytest.mark.slow
def test_area_model_recovers_truth_and_beats_observed_shares():
    hits: dict[str, list[bool]] = {"parameters": [], "shares": []}
    errors = {"model": [], "observed": []}
    unobserved_width_ratio = []
    for seed in SEEDS:
        synthetic = generate_area("region", random_seed=seed)
        truth = synthetic.truth
        # LA 0 loses all its returns: it must still get a finite share, with a wider
        # interval than when its returns are used.
        data = hide_la(synthetic.data, str(synthetic.data.geography.la_codes[0]))
        assert (data.observation_level.iloc[0] == dims.NONE).all()
        posterior, share = _shares(synthetic, data, seed)
        for name in PARAMETERS:
            hits["parameters"] += list(_inside(posterior[name], truth[name]))
        true_share = truth["needs_share"]
        hits["shares"] += list(_inside(share, true_share))
        mean_share = share.mean((dims.CHAIN, dims.DRAW))
        assert np.isfinite(share.isel({dims.LA: 0})).all()
        with_data = _relative_width(_shares(synthetic, synthetic.data, seed)[1])[0]
        unobserved_width_ratio.append(_relative_width(share)[0] / with_data)
        errors["model"].append(float(np.sqrt(((mean_share - true_share) ** 2).mean())))
        errors["observed"].append(float(np.sqrt(
            ((truth["observed_share"] - true_share) ** 2).mean())))
    for group, values in hits.items():
        k, n = int(np.sum(values)), len(values)
        p_value = binomtest(k, n, INTERVAL_PROB).pvalue
        print(f"{group}: {k}/{n} = {k / n:.1%} inside 90% intervals (binomial p={p_value:.3f})")
        assert p_value > 0.01, f"{group} coverage {k}/{n} inconsistent with 90%"
    print(f"LA 0 relative interval width without its data / with its data: "
          f"{np.round(unobserved_width_ratio, 2).tolist()}")
    assert all(r > 1 for r in unobserved_width_ratio)
    print(f"share RMSE model {errors['model']} vs observed {errors['observed']}")
    assert all(m < o for m, o in zip(errors["model"], errors["observed"], strict=True))
