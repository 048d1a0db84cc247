"""Synthetic LSOA/MSOA returns split from a synthetic panel's LA counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from bayes_needs.core.errors import ConfigError
from bayes_needs.data.covariates import standardise
from bayes_needs.simulate.panel import generate_panel, needs_terms
from bayes_needs.simulate.panel_returns import simulate_returns, within_la_weights


@pytest.fixture(scope="module")
def world():
    return generate_panel(random_seed=7, n_years=6)


def test_weights_are_the_lsoa_terms_of_the_panel_needs_term(world):
    panel, truth = world
    geo = panel.geography
    weight = within_la_weights(panel, truth.beta)                    # (lsoa, service)
    z = standardise(panel.covariates)[0].to_numpy()
    share = panel.lsoa_share
    la_mean = np.stack([np.bincount(geo.lsoa_to_la, weights=share * z[:, k])
                        for k in range(z.shape[1])], axis=1)
    indicators, _ = needs_terms(truth.beta, None, z - la_mean[geo.lsoa_to_la], share,
                                geo.lsoa_to_la, la_mean, geo.n_la)
    summed = np.stack([np.bincount(geo.lsoa_to_la, weights=weight[:, j])
                       for j in range(weight.shape[1])], axis=1)
    np.testing.assert_allclose(np.log(summed), indicators, rtol=1e-10)


def test_returns_split_the_la_counts_over_every_area_of_the_returning_las(world):
    panel, truth = world
    las, years = list(panel.la_codes[:3]), [2015, 2017]
    returns = simulate_returns(panel, truth, las, ["cla"], years, "lsoa",
                               np.random.default_rng(1))
    t = returns.table
    geo = panel.geography
    in_las = np.isin(geo.la_codes[geo.lsoa_to_la], las)
    assert len(t) == in_las.sum() * len(years)
    assert set(t["area_code"]) == set(geo.lsoa_codes[in_las])
    totals = t.groupby(["la_code", "year"])["count"].sum()
    for (la, year), total in totals.items():
        assert total == panel.counts["cla"].loc[la, year]
    assert (t["count"] == 0).any()  # zeros are listed, not dropped
    again = simulate_returns(panel, truth, las, ["cla"], years, "lsoa",
                             np.random.default_rng(1))
    assert again.data_hash() == returns.data_hash()


@pytest.mark.parametrize("level", ["lsoa", "msoa"])
def test_split_frequencies_follow_the_true_within_la_probabilities(world, level):
    panel, truth = world
    geo = panel.geography
    returns = simulate_returns(panel, truth, list(panel.la_codes), ["cin"],
                               list(panel.count_years), level, np.random.default_rng(3))
    weight = within_la_weights(panel, truth.beta)[:, 0]
    parent = geo.parent_index("lsoa", level)
    area_weight = np.bincount(parent, weights=weight, minlength=geo.size(level))
    pos = {code: i for i, code in enumerate(geo.codes(level))}
    for la, rows in returns.table.groupby("la_code"):
        observed = rows.groupby("area_code")["count"].sum()
        expected = area_weight[[pos[c] for c in observed.index]]
        expected = expected / expected.sum() * observed.sum()
        assert chisquare(observed.to_numpy(), expected).pvalue > 1e-3, la


def test_dispersion_widens_the_split(world):
    panel, truth = world
    kwargs = {"las": list(panel.la_codes), "services": ["cin"],
              "years": list(panel.count_years), "level": "lsoa"}
    weight = within_la_weights(panel, truth.beta)[:, 0]
    pos = {code: i for i, code in enumerate(panel.geography.lsoa_codes)}

    def dispersion_index(dispersion, seed):
        t = simulate_returns(panel, truth, rng=np.random.default_rng(seed),
                             dispersion=dispersion, **kwargs).table
        w = weight[[pos[c] for c in t["area_code"]]]
        total = t.groupby(["la_code", "year"])["count"].transform("sum").to_numpy()
        share = w / t.assign(w=w).groupby(["la_code", "year"])["w"].transform("sum").to_numpy()
        mean = total * share
        return np.mean((t["count"].to_numpy() - mean) ** 2 / mean)

    assert dispersion_index(None, 5) == pytest.approx(1.0, abs=0.15)
    assert dispersion_index(3.0, 5) == pytest.approx(4.0, rel=0.25)


def test_bad_requests_are_named(world):
    panel, truth = world
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="level"):
        simulate_returns(panel, truth, [panel.la_codes[0]], ["cin"], [2015], "la", rng)
    with pytest.raises(ConfigError, match="NOPE"):
        simulate_returns(panel, truth, ["NOPE"], ["cin"], [2015], "lsoa", rng)
    with pytest.raises(ConfigError, match="no LA count"):
        simulate_returns(panel, truth, [panel.la_codes[0]], ["cin"], [panel.years[-1]],
                         "lsoa", rng)
