"""LSOA/MSOA returns in the panel model: the split likelihood, its wiring and what it adds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pymc_extras.prior import Prior
from pytensor.graph.traversal import ancestors as ancestral_graph
from scipy.stats import dirichlet_multinomial, multinomial

from bayes_needs.config.models import PanelModelConfig
from bayes_needs.core.errors import ConfigError, DataHashMismatchError
from bayes_needs.data.covariates import standardise
from bayes_needs.data.panel_returns import PanelReturns
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.models.panel_returns import returns_likelihood, split_layouts
from bayes_needs.simulate.panel import generate_panel
from bayes_needs.simulate.panel_returns import simulate_returns

TRUE_WITHIN_RATIO = 0.75  # generate_panel: beta 0.3, contextual 0.1 per indicator


@pytest.fixture(scope="module")
def world():
    return generate_panel(random_seed=7, n_years=6)


@pytest.fixture(scope="module")
def returns(world):
    """LSOA returns of two LAs, MSOA returns of a third, and an LA returning some LSOAs."""
    panel, truth = world
    la = list(panel.la_codes)
    rng = np.random.default_rng(2)
    lsoa = simulate_returns(panel, truth, la[:2], ["cin", "cla"], [2015, 2016], "lsoa", rng)
    msoa = simulate_returns(panel, truth, [la[2]], ["cin"], [2017], "msoa", rng)
    part = simulate_returns(panel, truth, [la[3]], ["cla"], [2018], "lsoa", rng).table
    frame = pd.concat([lsoa.table, msoa.table, part.iloc[::2]], ignore_index=True)
    return PanelReturns.from_frame(frame, panel)


BETA = np.array([[0.5, -0.2], [0.8, -0.3]])  # (service, indicator) with a clear gradient


def split_logps(panel, returns, family="multinomial", dispersion=None):
    """Pointwise split log-likelihoods at :data:`BETA`, by observed variable."""
    model = PanelDemandModel(panel)
    with pm.Model(coords=model.coords) as pm_model:
        beta = pm.Normal("beta", dims=("service", "covariate"))
        priors = {"returns_dispersion": Prior("HalfNormal", sigma=1.0, dims="service")}
        names = returns_likelihood(returns, panel, model.inputs.z, beta,
                                   services=model.services, years=model.years, family=family,
                                   priors=priors)
    point = {"beta": BETA}
    if dispersion is not None:
        point["returns_dispersion_log__"] = np.log(dispersion)
    values = pm_model.compile_logp(vars=[pm_model[n] for n in names], sum=False)(point)
    return dict(zip(names, values, strict=True))


def reference_probabilities(panel, beta, service_row, table):
    """Numpy p over the returned areas of one LA-year, from exact standardised z."""
    geo = panel.geography
    z = standardise(panel.covariates)[0].to_numpy()
    weight = panel.lsoa_share * np.exp(z @ beta[service_row])
    level = table["level"].iloc[0]
    area_weight = np.bincount(geo.parent_index("lsoa", level), weights=weight,
                              minlength=geo.size(level))
    w = area_weight[geo.position(level, table["area_code"].to_numpy(dtype=object))]
    return w / w.sum()


def groups_of(returns, name):
    service, level = name.split("_")[2:]
    t = returns.table
    rows = t[(t["service"] == service) & (t["level"] == level)]
    return service, rows, [group for _, group in rows.groupby(["year", "la_code"])]


def test_split_log_likelihood_equals_scipy_multinomial(world, returns):
    panel, _ = world
    logps = split_logps(panel, returns)
    assert set(logps) == {"obs_returns_cin_lsoa", "obs_returns_cla_lsoa",
                          "obs_returns_cin_msoa"}
    for name, values in logps.items():
        service, rows, groups = groups_of(returns, name)
        expected = 0.0
        for group in groups:
            p = reference_probabilities(panel, BETA, panel.services.index(service), group)
            counts = group["count"].to_numpy()
            expected += multinomial.logpmf(counts, counts.sum(), p)
        assert len(values) == len(rows)  # pointwise: one value per returned count
        assert values.sum() == pytest.approx(expected, rel=1e-9)


def test_dirichlet_multinomial_split_equals_scipy(world, returns):
    panel, _ = world
    delta = np.array([0.5, 2.0])
    for name, values in split_logps(panel, returns, "dirichlet_multinomial", delta).items():
        service, _, groups = groups_of(returns, name)
        j = panel.services.index(service)
        expected = 0.0
        for group in groups:
            counts = group["count"].to_numpy()
            alpha = reference_probabilities(panel, BETA, j, group) * counts.sum() / delta[j]
            expected += dirichlet_multinomial.logpmf(counts, alpha, counts.sum())
        assert values.sum() == pytest.approx(expected, rel=1e-9)


def test_the_model_adds_the_split_with_its_own_beta(world, returns):
    panel, _ = world
    pm_model = PanelDemandModel(panel, {"returns_family": "dirichlet_multinomial"},
                                returns=returns).build_model()
    names = {n for n in pm_model.named_vars if n.startswith("obs_returns_")}
    assert names == {"obs_returns_cin_lsoa", "obs_returns_cla_lsoa", "obs_returns_cin_msoa"}
    assert pm_model.named_vars_to_dims["returns_dispersion"] == ("service",)
    assert pm_model.named_vars_to_dims["obs_returns_cin_msoa"] == ("cin_msoa_obs",)
    # The split depends on the model's beta (an ancestor of the observed variables).
    ancestors = {v.name for v in ancestral_graph([pm_model["obs_returns_cin_lsoa"]])
                 if v.name}
    assert {"between", "within_ratio", "log_loading"} <= ancestors


def test_returns_sharpen_the_curvature_of_the_log_posterior_in_within_ratio(world):
    panel, truth = world
    full = simulate_returns(panel, truth, list(panel.la_codes), ["cin", "cla"],
                            list(panel.count_years), "lsoa", np.random.default_rng(4))
    curvature = []
    step = 1e-3
    for given in (None, full):
        pm_model = PanelDemandModel(panel, returns=given).build_model()
        dlogp = pm_model.compile_dlogp(vars=[pm_model["within_ratio"]])
        point = {**pm_model.initial_point(), "between": np.array([0.4, 0.4])}
        slopes = [dlogp({**point, "within_ratio_log__": np.array(np.log(TRUE_WITHIN_RATIO) + h)})
                  for h in (-step, step)]
        curvature.append(-float(np.squeeze(slopes[1] - slopes[0])) / (2 * step))
    # -d2 log p / d(log ratio)^2 is the Laplace precision of log within_ratio.
    assert curvature[0] > 0
    assert curvature[1] > 10 * curvature[0]


def test_only_returns_of_the_fitted_years_and_services_enter(world, returns):
    panel, _ = world
    model = PanelDemandModel(panel.up_to(2015).subset_services(["cla"]), returns=returns)
    layouts = split_layouts(returns, model.data, model.services, model.years)
    assert [(lay.service, lay.level) for lay in layouts] == [("cla", "lsoa")]
    assert len(layouts[0].counts) == len(returns.table.query("service == 'cla' and "
                                                             "year == 2015"))
    assert all(c.endswith(" 2015") for c in model.build_model().coords["cla_lsoa_obs"])


def test_unknown_family_and_missing_dispersion_prior_are_named(world, returns):
    panel, _ = world
    with pytest.raises(ConfigError, match="returns_family"):
        PanelModelConfig.from_dict({"returns_family": "poisson"})
    model = PanelDemandModel(panel)
    with pm.Model(coords=model.coords):
        with pytest.raises(ConfigError, match="returns_family"):
            returns_likelihood(returns, panel, model.inputs.z, None, services=model.services,
                               years=model.years, family="negbin")
        with pytest.raises(ConfigError, match="returns_dispersion"):
            returns_likelihood(returns, panel, model.inputs.z, None, services=model.services,
                               years=model.years, family="dirichlet_multinomial", priors={})


def test_mocked_fit_with_returns_reloads_only_with_them(world, returns, tmp_path,
                                                        mocked_sampler):
    panel, _ = world
    model = PanelDemandModel(panel, {"contextual": False}, returns=returns)
    assert model.data_hash() != PanelDemandModel(panel).data_hash()
    idata = model.fit(random_seed=1, draws=10, tune=10, chains=2)
    with model.built_model():
        pm.compute_log_likelihood(idata, var_names=["obs_returns_cin_msoa"], progressbar=False)
    pointwise = idata.log_likelihood["obs_returns_cin_msoa"]
    assert pointwise.dims[-1] == "cin_msoa_obs" and np.isfinite(pointwise).all()
    path = model.save(idata, tmp_path / "fit.nc")
    again, _ = PanelDemandModel.load(path, panel, returns)
    assert again.returns is returns and again.data_hash() == model.data_hash()
    assert model.stored_config()["returns"]["rows"] == len(returns)
    with pytest.raises(DataHashMismatchError):
        PanelDemandModel.load(path, panel)


@pytest.mark.slow
def test_returns_sharpen_the_posterior_of_within_ratio(world):
    panel, truth = world
    full = simulate_returns(panel, truth, list(panel.la_codes[:4]), ["cin", "cla"],
                            [2016, 2019], "lsoa", np.random.default_rng(1))
    sd, inside = [], []
    for given in (None, full):
        idata = PanelDemandModel(panel, returns=given).fit(
            random_seed=3, draws=300, tune=300, chains=2, cores=1, target_accept=0.9,
            progressbar=False)
        ratio = idata.posterior["within_ratio"].to_numpy().ravel()
        sd.append(ratio.std())
        low, high = np.quantile(ratio, [0.05, 0.95])
        inside.append(low < TRUE_WITHIN_RATIO < high)
    assert sd[1] < 0.5 * sd[0]
    assert inside == [True, True]
