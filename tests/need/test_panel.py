"""Panel need: forecasts, the policy share and its decomposition."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_mocks import patched_sample

from bayes_needs.core.errors import ConfigError
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.need.panel import expected_need, forecast
from bayes_needs.simulate.panel import generate_panel


@pytest.fixture(scope="module")
def fitted():
    """One mocked fit, shared: the tests only draw need and forecasts from it."""
    panel = generate_panel(random_seed=9, n_years=5, extra_years=2)[0]
    model = PanelDemandModel(panel)
    with patched_sample():
        return model, model.fit(random_seed=1, draws=15, tune=10, chains=2)


def test_la_and_none_are_the_ends_of_the_policy_share(fitted):
    model, idata = fitted
    none = expected_need(model, idata, random_seed=3, standardise="none")
    la = expected_need(model, idata, random_seed=3, standardise="la")
    mid = expected_need(model, idata, random_seed=3)
    assert float(none["policy_share"].max()) == 0 and float(la["policy_share"].min()) == 1
    share = mid["policy_share"].values
    assert ((share > 0) & (share < 1)).all()
    # need(none) / need(la) = exp(persistent LA effect), draw by draw
    effect = none["la_residual_kept"]
    ratio = (none["need"] / la["need"]).isel(year=0)
    np.testing.assert_allclose(ratio.values, np.exp(effect.values), rtol=1e-9)
    total = mid["la_residual_kept"] + mid["la_residual_removed"]
    np.testing.assert_allclose(total.values, effect.values, rtol=1e-9)


def test_forecast_years_follow_the_last_count_year_and_need_exposure(fitted):
    model, idata = fitted
    out = forecast(model, idata, horizon=2, random_seed=1)
    assert list(out["count"].year.values) == [model.years[-1] + 1, model.years[-1] + 2]
    assert (out["count"] >= 0).all()
    with pytest.raises(ConfigError, match="no exposure"):
        expected_need(model, idata, random_seed=1, horizon=3)
    with pytest.raises(ConfigError, match="standardise"):
        expected_need(model, idata, random_seed=1, standardise="all")


def test_correlated_services_fit_and_draw_correlated_la_effects(mocked_sampler):
    panel = generate_panel(random_seed=4, n_years=4, extra_years=1)[0]
    model = PanelDemandModel(panel, {"correlated_services": True})
    idata = model.fit(random_seed=2, draws=10, tune=5, chains=2)
    assert idata.posterior["la_correlation"].dims[-1] == "service_pair"
    corr = idata.posterior["la_correlation_matrix"]
    assert corr.dims[-2:] == ("service", "service_b")
    np.testing.assert_allclose(np.diagonal(corr.values, axis1=-2, axis2=-1), 1.0)
    need = expected_need(model, idata, random_seed=5, standardise="none")
    assert np.isfinite(need["need"].values).all()
    # Uncorrelated fits have no correlation variable at all.
    assert "la_correlation" not in PanelDemandModel(panel).build_model().named_vars


def test_count_noise_draws_forecast_counts_with_the_fitted_dispersion(mocked_sampler):
    panel = generate_panel(random_seed=6, n_years=4, extra_years=1)[0]
    model = PanelDemandModel(panel, {"count_noise": True})
    idata = model.fit(random_seed=2, draws=10, tune=5, chains=2)
    need = expected_need(model, idata, random_seed=5, standardise="none")
    assert np.isfinite(need["need"].values).all()
    # No fresh noise: each forecast count is its expected count, rounded.
    idata.posterior["count_dispersion"] = idata.posterior["count_dispersion"] * 0 + 1e-12
    still = forecast(model, idata, random_seed=5)
    expected = np.rint(panel.exposure[[model.years[-1] + 1]].to_numpy()[None, None, :, :, None]
                       * np.exp(still["log_rate"].values))
    np.testing.assert_array_equal(still["count"].values, expected)
