"""Interval checks, bounds and wording (core/intervals.py), and the package-wide defaults."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.intervals import (
    INTERVAL_KINDS,
    check_interval,
    credible_interval,
    describe_interval,
)


def draws(values: np.ndarray) -> xr.DataArray:
    """Draws of shape (chain, draw, la)."""
    return xr.DataArray(values, dims=(dims.CHAIN, dims.DRAW, dims.LA),
                        coords={dims.LA: [f"E{i:08d}" for i in range(values.shape[2])]},
                        name="share")


# ---------------------------------------------------------------------- check_interval
@pytest.mark.parametrize("prob", [0, 1, 0.0, 1.0, -0.1, 1.5, math.nan, math.inf, True, False,
                                  "0.9", None])
def test_check_interval_names_interval_prob(prob):
    with pytest.raises(ConfigError, match="interval_prob"):
        check_interval(prob, "eti")


@pytest.mark.parametrize("kind", ["ETI", "hpd", "", None, 0.9])
def test_check_interval_names_interval_kind(kind):
    with pytest.raises(ConfigError, match="interval_kind") as info:
        check_interval(0.9, kind)
    assert "eti" in str(info.value) and "hdi" in str(info.value)


def test_check_interval_returns_plain_float_and_str():
    prob, kind = check_interval(np.float32(0.5), np.str_("hdi"))
    assert (prob, kind) == (0.5, "hdi")
    assert type(prob) is float and type(kind) is str
    assert check_interval(1 / 3, "eti") == (1 / 3, "eti")


# ---------------------------------------------------------------------- credible_interval
@pytest.mark.parametrize("prob", [0.5, 0.8, 0.9, 0.99])
def test_eti_bounds_equal_numpy_quantiles_over_chain_and_draw(prob):
    values = np.random.default_rng(11).lognormal(size=(3, 200, 4))
    lower, upper = credible_interval(draws(values), interval_prob=prob, interval_kind="eti")
    flat = values.reshape(-1, 4)
    tail = (1 - prob) / 2
    np.testing.assert_allclose(lower.to_numpy(), np.quantile(flat, tail, axis=0), rtol=1e-12)
    np.testing.assert_allclose(upper.to_numpy(), np.quantile(flat, 1 - tail, axis=0),
                               rtol=1e-12)
    assert lower.dims == upper.dims == (dims.LA,)
    assert list(lower[dims.LA].to_numpy()) == [f"E{i:08d}" for i in range(4)]


def test_integer_eti_bounds_are_sample_values_outward():
    values = np.random.default_rng(12).integers(1, 20, size=(2, 51, 3)).astype(float)
    lower, upper = credible_interval(draws(values), interval_prob=0.9, interval_kind="eti",
                                     integer=True)
    flat = values.reshape(-1, 3)
    np.testing.assert_array_equal(lower.to_numpy(),
                                  np.quantile(flat, 0.05, axis=0, method="lower"))
    np.testing.assert_array_equal(upper.to_numpy(),
                                  np.quantile(flat, 0.95, axis=0, method="higher"))
    for j in range(3):
        assert lower.to_numpy()[j] in flat[:, j] and upper.to_numpy()[j] in flat[:, j]


def test_dataset_input_gives_dataset_bounds():
    values = np.random.default_rng(13).normal(size=(2, 100, 2))
    lower, upper = credible_interval(draws(values).to_dataset(), interval_prob=0.9,
                                     interval_kind="eti")
    assert isinstance(lower, xr.Dataset) and isinstance(upper, xr.Dataset)
    assert (lower["share"] < upper["share"]).all()


def test_hdi_is_narrower_than_eti_for_skewed_draws_and_holds_the_mass():
    values = np.random.default_rng(14).exponential(size=(2, 2000, 1))
    eti_lower, eti_upper = credible_interval(draws(values), interval_prob=0.9,
                                             interval_kind="eti")
    hdi_lower, hdi_upper = credible_interval(draws(values), interval_prob=0.9,
                                             interval_kind="hdi")
    assert isinstance(hdi_lower, xr.DataArray) and hdi_lower.dims == (dims.LA,)
    low, high = hdi_lower.item(), hdi_upper.item()
    assert high - low < (eti_upper - eti_lower).item()
    inside = (values >= low) & (values <= high)
    assert inside.mean() >= 0.9 - 1e-3


def test_credible_interval_checks_its_arguments():
    with pytest.raises(ConfigError, match="interval_prob"):
        credible_interval(draws(np.ones((1, 5, 1))), interval_prob=1.2, interval_kind="eti")


# ---------------------------------------------------------------------- describe_interval
@pytest.mark.parametrize(("prob", "kind", "text"), [
    (0.9, "eti", "90% equal-tailed"),
    (0.95, "hdi", "95% highest-density"),
    (0.975, "eti", "97.5% equal-tailed"),
    (0.5, "hdi", "50% highest-density"),
])
def test_describe_interval(prob, kind, text):
    assert describe_interval(prob, kind) == text


# ---------------------------------------------------------------------- defaults
def test_default_interval_is_valid_and_reads_as_90_percent_equal_tailed():
    assert check_interval(defaults.INTERVAL_PROB, defaults.INTERVAL_KIND) == (0.9, "eti")
    assert defaults.INTERVAL_KIND in INTERVAL_KINDS
    assert describe_interval(defaults.INTERVAL_PROB, defaults.INTERVAL_KIND) == \
        "90% equal-tailed"


def test_default_sampling_settings_and_pot_are_usable():
    assert isinstance(defaults.RANDOM_SEED, int) and defaults.RANDOM_SEED >= 0
    np.random.default_rng(defaults.RANDOM_SEED)  # a valid seed
    assert 0 < defaults.TARGET_ACCEPT < 1
    assert math.isfinite(defaults.POT) and defaults.POT > 0


def test_default_cost_weights_cover_every_service_and_are_read_only():
    assert set(defaults.COST_WEIGHTS) == set(dims.SERVICES)
    assert all(math.isfinite(w) and w > 0 for w in defaults.COST_WEIGHTS.values())
    with pytest.raises(TypeError):
        defaults.COST_WEIGHTS[dims.CIN] = 1.0  # type: ignore[index]
