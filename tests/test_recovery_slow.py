"""Slow recovery test: the area model recovers a known synthetic truth.

Run with ``python -m pytest -m slow -s`` to see the measured coverage.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.stats import binomtest

from bayes_needs import dims
from bayes_needs.allocation import allocate, credible_interval
from bayes_needs.data import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.synthetic import generate_area

PARAMETERS = ("intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion")
INTERVAL_PROB = 0.9
SEEDS = (101, 202, 303)


def _without_la(data: AreaData, la_position: int) -> AreaData:
    """The same data with every observation inside one LA removed."""
    geo, obs = data.geography, data.observations
    keep = np.ones(len(obs), bool)
    for level in dims.LEVELS:
        rows = (obs["level"] == level).to_numpy()
        pos = geo.position(level, obs.loc[rows, "area_code"].to_numpy())
        keep[np.flatnonzero(rows)] = geo.parent_index(level, dims.LA)[pos] != la_position
    return AreaData(geo, data.covariates, data.exposure, obs[keep].reset_index(drop=True),
                    data.services, data.year, data.source)


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
        # LA 0 loses all its returns: it must still get a finite, wider-interval share.
        data = _without_la(synthetic.data, 0)
        assert (data.observation_level.iloc[0] == dims.NONE).all()
        model = AreaDemandModel(data)
        idata = model.fit(random_seed=seed, draws=600, tune=600, chains=2, progressbar=False)
        posterior = idata.posterior
        for name in PARAMETERS:
            hits["parameters"] += list(_inside(posterior[name], truth[name]))
        need = model.expected_need(idata, random_seed=seed)
        allocation = allocate(need["need"], truth["unit_cost"], interval_prob=INTERVAL_PROB,
                              interval_kind="eti")
        true_share = truth["needs_share"]
        hits["shares"] += list(_inside(allocation.draws["share"], true_share))
        mean_share = allocation.draws["share"].mean((dims.CHAIN, dims.DRAW))
        lower, upper = credible_interval(allocation.draws["share"], interval_prob=INTERVAL_PROB,
                                         interval_kind="eti")
        relative_width = ((upper - lower) / mean_share).to_numpy()
        assert np.isfinite(allocation.draws["share"].isel({dims.LA: 0})).all()
        unobserved_width_ratio.append(relative_width[0] / np.median(relative_width[1:]))
        errors["model"].append(float(np.sqrt(((mean_share - true_share) ** 2).mean())))
        errors["observed"].append(float(np.sqrt(
            ((truth["observed_share"] - true_share) ** 2).mean())))
    for group, values in hits.items():
        k, n = int(np.sum(values)), len(values)
        p_value = binomtest(k, n, INTERVAL_PROB).pvalue
        print(f"{group}: {k}/{n} = {k / n:.1%} inside 90% intervals (binomial p={p_value:.3f})")
        assert p_value > 0.01, f"{group} coverage {k}/{n} inconsistent with 90%"
    print(f"unobserved LA relative interval width / median of others: "
          f"{np.round(unobserved_width_ratio, 2).tolist()}")
    assert all(r > 1 for r in unobserved_width_ratio)
    print(f"share RMSE model {errors['model']} vs observed {errors['observed']}")
    assert all(m < o for m, o in zip(errors["model"], errors["observed"], strict=True))
