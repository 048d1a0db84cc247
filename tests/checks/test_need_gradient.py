"""The deprivation gradient of need: Spearman and quintile rate ratio over draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import spearmanr

from bayes_needs.checks.need_gradient import (
    COLUMNS,
    QUINTILE_RATIO,
    SPEARMAN,
    STATISTICS,
    gradient_draws,
    indicator_composite,
    need_gradient,
    need_rates,
    summary_lines,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError

N_LA = 20
CODES = [f"E{i:08d}" for i in range(N_LA)]
SERVICES = ["cin", "cla"]


def make_need(rate: np.ndarray, exposure: np.ndarray, *, years=(2026, 2027)) -> xr.Dataset:
    """Need draws (chain, draw, la, year, service) = rate (chain, draw, la, service) * exposure,
    the same in every year, shaped like ``expected_need``'s output."""
    need = rate[:, :, :, None, :] * exposure[None, None, :, None, None]
    need = np.repeat(need, len(years), axis=3)
    n_chain, n_draw = rate.shape[:2]
    ds = xr.Dataset({"need": ((dims.CHAIN, dims.DRAW, dims.LA, dims.YEAR, dims.SERVICE),
                              need)},
                    coords={dims.CHAIN: np.arange(n_chain), dims.DRAW: np.arange(n_draw),
                            dims.LA: CODES, dims.YEAR: list(years), dims.SERVICE: SERVICES})
    ds.attrs["allocation_year"] = years[-1]
    return ds


@pytest.fixture
def monotone():
    """Rates rising with the score in every draw: rate_la = (1 + la) * a draw-level factor."""
    rng = np.random.default_rng(7)
    exposure = rng.uniform(1_000, 50_000, N_LA)
    factor = rng.uniform(0.5, 2.0, (2, 25, 1, len(SERVICES)))
    rate = factor * (1.0 + np.arange(N_LA))[None, None, :, None] * 1e-3
    score = pd.Series(np.linspace(-1.0, 3.0, N_LA), index=CODES)
    return make_need(rate, exposure), pd.Series(exposure, index=CODES), score


def test_monotone_rates_give_spearman_one_and_the_quintile_ratio(monotone):
    need, exposure, score = monotone
    table = need_gradient(need, exposure, score)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == len(SERVICES) * len(STATISTICS)
    assert list(table[dims.SERVICE]) == [s for s in SERVICES for _ in STATISTICS]
    rho = table[table["statistic"] == SPEARMAN]
    np.testing.assert_allclose(rho[["median", "lower", "upper"]].to_numpy(), 1.0)
    # Top 4 LAs have (17..20), bottom 4 (1..4): mean 18.5 over 2.5, whatever the factor.
    ratio = table[table["statistic"] == QUINTILE_RATIO]
    np.testing.assert_allclose(ratio[["median", "lower", "upper"]].to_numpy(), 18.5 / 2.5)
    assert table.attrs["n_quintile"] == N_LA // 5 and table.attrs["n_la"] == N_LA
    assert "90% equal-tailed" in table.attrs["comment"]


def test_reversed_score_gives_minus_one_and_the_inverse_ratio(monotone):
    need, exposure, score = monotone
    table = need_gradient(need, exposure, -score)
    rho = table[table["statistic"] == SPEARMAN]
    np.testing.assert_allclose(rho["median"], -1.0)
    ratio = table[table["statistic"] == QUINTILE_RATIO]
    np.testing.assert_allclose(ratio["median"], 2.5 / 18.5)


def test_rates_divide_need_by_the_exposure_of_the_chosen_year(monotone):
    need, exposure, score = monotone
    rate = need_rates(need, exposure)
    expected = need["need"].sel({dims.YEAR: 2027}) / exposure.to_numpy()[:, None]
    np.testing.assert_allclose(rate.to_numpy(), expected.to_numpy())
    # The LA order of the inputs does not matter: they are aligned by code.
    shuffled = need_gradient(need, exposure.iloc[::-1], score.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(shuffled, need_gradient(need, exposure, score))
    with pytest.raises(ConfigError, match="2030"):
        need_rates(need, exposure, year=2030)


def test_noisy_rates_give_ordered_intervals_and_spearman_matches_scipy():
    rng = np.random.default_rng(11)
    exposure = rng.uniform(1_000, 50_000, N_LA)
    score = pd.Series(rng.normal(size=N_LA), index=CODES)
    rate = np.exp(0.5 * score.to_numpy()[None, None, :, None]
                  + 0.6 * rng.standard_normal((2, 100, N_LA, len(SERVICES)))) * 1e-2
    need = make_need(rate, exposure)
    table = need_gradient(need, pd.Series(exposure, index=CODES), score, interval_prob=0.8)
    assert (table["lower"] < table["median"]).all() and (table["median"] < table["upper"]).all()
    ratio = table[table["statistic"] == QUINTILE_RATIO]
    assert (ratio["median"] > 1.0).all()
    draws = gradient_draws(need_rates(need, pd.Series(exposure, index=CODES)), score)
    one = spearmanr(rate[1, 7, :, 0], score.to_numpy()).statistic
    np.testing.assert_allclose(float(draws[SPEARMAN][1, 7, 0]), one)
    hdi = need_gradient(need, pd.Series(exposure, index=CODES), score, interval_kind="hdi")
    assert (hdi["lower"] <= hdi["upper"]).all()


def test_missing_and_invalid_inputs_are_named_together(monotone):
    need, exposure, score = monotone
    bad_exposure = exposure.drop(CODES[3]).copy()
    bad_exposure[CODES[5]] = 0.0
    bad_exposure[CODES[6]] = np.nan
    with pytest.raises(DataValidationError) as info:
        need_gradient(need, bad_exposure, score)
    text = str(info.value)
    assert CODES[3] in text and CODES[5] in text and CODES[6] in text
    with pytest.raises(DataValidationError, match="same for every LA"):
        need_gradient(need, exposure, score * 0.0)
    with pytest.raises(DataValidationError, match=CODES[0]):
        need_gradient(need, exposure, score.drop(CODES[0]))


def test_too_few_las_cannot_form_quintiles(monotone):
    need, exposure, score = monotone
    few = need.isel({dims.LA: slice(0, 4)})
    with pytest.raises(DataValidationError, match="at least 5"):
        need_gradient(few, exposure, score)


def test_indicator_composite_standardises_each_indicator():
    means = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [100.0, 300.0, 200.0]},
                         index=pd.Index(CODES[:3], name="la_code"))
    composite = indicator_composite(means)
    z_a = np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5)
    z_b = np.array([-1.0, 1.0, 0.0]) * np.sqrt(1.5)
    np.testing.assert_allclose(composite.to_numpy(), (z_a + z_b) / 2)
    assert list(composite.index) == CODES[:3]
    with pytest.raises(DataValidationError, match="'b'"):
        indicator_composite(means.assign(b=5.0))


def test_summary_lines_give_two_lines_per_service(monotone):
    need, exposure, score = monotone
    lines = summary_lines(need_gradient(need, exposure, score), score_name="test score")
    assert len(lines) == 2 * len(SERVICES)
    assert "Spearman" in lines[0] and "test score" in lines[0] and "1.000" in lines[0]
    assert "quintile rate ratio: median 7.400" in lines[1] and "90% equal-tailed" in lines[1]
