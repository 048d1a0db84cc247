"""Panel model: construction, errors, mocked fits, save and load."""

from __future__ import annotations

import dataclasses

import numpy as np
import pymc as pm
import pytensor
import pytest

from bayes_needs.core.errors import ConfigError, DataHashMismatchError, PriorConfigError
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.simulate.panel import generate_panel, needs_terms


@pytest.fixture
def panel():
    return generate_panel(random_seed=7, n_years=6)[0]


def test_model_has_named_dims_and_fits_only_the_count_years(panel):
    model = PanelDemandModel(panel)
    pm_model = model.build_model()
    assert list(pm_model.coords["year"]) == list(model.years)
    assert model.years[-1] == panel.last_count_year
    assert pm_model.named_vars_to_dims["national_level"] == ("service", "year")
    assert pm_model.named_vars_to_dims["beta"] == ("service", "covariate")


def test_increments_without_counts_at_both_ends_are_sampled_non_centred():
    panel = generate_panel(random_seed=7, n_years=6)[0]
    counts = panel.counts["cla"].copy()
    counts.iloc[:, :2] = np.nan                   # CLA has no counts in the first two years
    panel = dataclasses.replace(panel, counts={**panel.counts, "cla": counts})
    model = PanelDemandModel(panel)
    informed = model._informed_steps()
    cla = model.services.index("cla")
    assert not informed[cla, :2].any() and informed[cla, 2:].all() and informed[1 - cla].all()
    pm_model = model.build_model()
    free = pm_model["national_step_free"]
    sd = pm.draw(free, draws=4000, random_seed=1).std(axis=0)
    # The prior of an uninformed increment is N(0, 1) (non-centred); informed ones N(0, sigma_year).
    assert np.allclose(sd[cla, :2], 1.0, atol=0.06)
    assert (sd[cla, 2:] < 0.5).all()


def test_default_sigma_year_prior_pools_the_services_scales(panel):
    graph = PanelDemandModel(panel).build_model()
    log_sd = np.log(pm.draw(graph["sigma_year"], draws=4000, random_seed=2))
    assert log_sd.shape == (4000, len(panel.services))
    # A shared (estimated) centre: the services' log scales move together a priori.
    assert np.corrcoef(log_sd.T)[0, 1] > 0.5
    assert 0.01 < np.exp(np.median(log_sd)) < 0.1


def test_default_volatility_trend_prior_pools_the_services_trends(panel):
    """A service with few years of counts (CLA) borrows the others' trend of volatility."""
    graph = PanelDemandModel(panel).build_model()
    trend = pm.draw(graph["volatility_trend"], draws=4000, random_seed=3)
    assert trend.shape == (4000, len(panel.services))
    # A shared (estimated) centre: the services' trends move together a priori.
    assert np.corrcoef(trend.T)[0, 1] > 0.5
    assert 0.05 < trend[:, 0].std() < 0.2


def test_la_volatility_is_the_default_and_can_be_switched_off(panel):
    with_volatility = PanelDemandModel(panel).build_model()
    assert with_volatility.named_vars_to_dims["sigma_ar_la"] == ("la", "service")
    common = PanelDemandModel(panel, {"la_volatility": False}).build_model()
    assert "volatility_raw" not in common.named_vars and "sigma_ar_la" not in common.named_vars


def test_volatility_trend_is_the_default_and_can_be_switched_off(panel):
    trending = PanelDemandModel(panel).build_model()
    assert trending.named_vars_to_dims["volatility_trend"] == ("service",)
    constant = PanelDemandModel(panel, {"volatility_trend": False}).build_model()
    assert "volatility_trend" not in constant.named_vars
    with pytest.raises(ConfigError, match="volatility_trend"):
        PanelDemandModel(panel, {"volatility_trend": "yes"})


def test_count_noise_reduces_to_poisson_at_dispersion_one_and_no_innovation(panel):
    noisy = PanelDemandModel(panel).build_model()       # on by default
    for name in ("count_dispersion", "count_innovation"):
        assert noisy.named_vars_to_dims[name] == ("service",)
    poisson = PanelDemandModel(panel, {"count_noise": False}).build_model()
    assert "count_dispersion" not in poisson.named_vars
    point = poisson.initial_point(random_seed=3)
    n_s = len(panel.services)
    # Dispersion 1 and no count-scaled innovation is the Poisson model.
    at_poisson = {**point, "count_dispersion_log__": np.zeros(n_s),
                  "count_innovation_log__": np.full(n_s, -50.0)}

    def potential(model):
        graph = model.replace_rvs_by_values([model["panel_log_likelihood"]])
        fn = pytensor.function(model.value_vars, graph, on_unused_input="ignore")
        return lambda values: fn(*[values[v.name] for v in model.value_vars])[0]

    expected = potential(poisson)(point)
    value = potential(noisy)
    np.testing.assert_allclose(value(at_poisson), expected, rtol=1e-9)
    assert value({**at_poisson, "count_dispersion_log__": np.full(n_s, -1.0)}) != expected
    assert value({**at_poisson, "count_innovation_log__": np.zeros(n_s)}) != expected


def test_unknown_indicator_and_missing_evidence_priors_are_named(panel):
    with pytest.raises(ConfigError, match="nope"):
        PanelDemandModel(panel, {"indicators": ["nope"]})
    with pytest.raises(PriorConfigError, match="within_log_rr_per_sd"):
        PanelDemandModel(panel, {"evidence": True})
    with pytest.raises(ConfigError, match="contextual"):
        PanelDemandModel(panel, {"contextual": "yes"})


def test_mocked_fit_saves_and_reloads_with_its_data_hash(panel, tmp_path, mocked_sampler):
    model = PanelDemandModel(panel, {"contextual": False})
    idata = model.fit(random_seed=1, draws=10, tune=10, chains=2)
    path = model.save(idata, tmp_path / "fit.nc")
    again, loaded = PanelDemandModel.load(path, panel)
    assert again.config == model.config
    assert "beta_contextual" not in loaded.posterior
    other = generate_panel(random_seed=8, n_years=6)[0]
    with pytest.raises(DataHashMismatchError):
        PanelDemandModel.load(path, other)


def test_needs_terms_of_the_graph_equal_the_generative_model(panel):
    # The graph and simulate.panel.needs_terms (used by need draws) must agree exactly.
    model = PanelDemandModel(panel)
    with pm.Model(coords=model.coords) as graph:
        model.model = graph
        terms = model._needs_terms(len(model.services))
    rng = np.random.default_rng(0)
    point = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in graph.initial_point().items()}
    evaluate = graph.compile_fn([terms, graph["beta"], graph["beta_contextual"]],
                                inputs=graph.value_vars, point_fn=True,
                                on_unused_input="ignore")
    got, beta, contextual = evaluate(point)
    inp = model.inputs
    indicators, context = needs_terms(beta[None], contextual[None], inp.point_z,
                                      inp.point_share, inp.point_la, inp.la_mean,
                                      panel.geography.n_la)
    np.testing.assert_allclose(got, (indicators + context)[0], atol=1e-12)
