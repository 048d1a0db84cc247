"""The area demand model: structure, likelihood terms against scipy, configuration errors, and
fitting/persistence with a mocked sampler (prior draws stand in for MCMC); the need drawn from
a fit is tested in tests/need/test_area.py.

Every expected likelihood value is recomputed here from the data and the chosen parameter
values (covariates standardised with :func:`bayes_needs.data.covariates.standardise`), never read
back from the model.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from area_fits import SERVICES, fixed_rates, hidden_la_fit, tiny_area_data, with_counts
from pymc_extras.prior import Prior
from scipy import stats

from bayes_needs.config.models import AreaModelConfig
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigError,
    DataHashMismatchError,
    PriorConfigError,
)
from bayes_needs.data.area import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.simulate.area import generate_area

#: Every dim name defined in bayes_needs.core.dims.
DIM_NAMES = {v for k, v in vars(dims).items() if k.isupper() and isinstance(v, str)}
#: The packed LKJ Cholesky factor has no natural named dim.
NO_DIMS_OK = {"la_chol"}


# ---------------------------------------------------------------------- helpers
def observed_counts(data: AreaData, service: str, level: str) -> pd.Series:
    """Observed counts by area code at ``level``; MSOA totals include the sums of
    LSOA-level returns.
    """
    geo, obs = data.geography, data.observations
    rows = obs[obs["service"] == service]
    at_level = rows[rows["level"] == level].set_index("area_code")["count"]
    if level != dims.MSOA:
        return at_level
    lsoa = rows[rows["level"] == dims.LSOA]
    parent = geo.msoa_codes[geo.lsoa_to_msoa[geo.position(dims.LSOA,
                                                          lsoa["area_code"].to_numpy())]]
    from_lsoa = lsoa["count"].groupby(parent).sum()
    return pd.concat([at_level, from_lsoa])


def elementwise_logp(model: pm.Model, names: list[str], point: dict) -> dict[str, np.ndarray]:
    fn = model.compile_logp(vars=[model[n] for n in names], sum=False)
    return dict(zip(names, fn(point), strict=True))


def codes_of(model: pm.Model, service: str, level: str) -> list[str]:
    return list(model.coords[dims.observation_dim(service, level)])


def assert_canonical_dims(model: pm.Model) -> None:
    for var in [*model.free_RVs, *model.deterministics]:
        if var.name in NO_DIMS_OK:
            continue
        var_dims = model.named_vars_to_dims.get(var.name)
        assert var_dims is not None, f"{var.name} has no dims"
        assert len(var_dims) == var.ndim, var.name
        assert set(var_dims) <= DIM_NAMES, (var.name, var_dims)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data() -> AreaData:
    return tiny_area_data()


# ====================================================================== structure
def test_default_model_on_all_services_has_canonical_dims_and_finite_logp():
    data = generate_area("tiny", random_seed=5).data
    model = AreaDemandModel(data).build_model()
    assert_canonical_dims(model)
    assert model.named_vars_to_dims["la_effect"] == (dims.LA, dims.SERVICE)
    assert list(model.coords[dims.SERVICE]) == list(data.services)
    assert list(model.coords[dims.LA]) == list(data.geography.la_codes)
    names = {v.name for v in model.free_RVs}
    assert {"intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion"} <= names
    observed = {v.name for v in model.observed_RVs}
    for service in data.services:
        for level, pos in ((lvl, data.observed(service, lvl)[0]) for lvl in dims.LEVELS):
            if len(pos):
                assert f"obs_{level}_{service}" in observed
    logps = model.point_logps()
    assert set(logps) == {v.name for v in model.free_RVs} | observed
    assert all(np.isfinite(v) for v in logps.values()), logps


@pytest.mark.parametrize("options, present, absent", [
    ({}, {"la_effect", "sigma_la", "msoa_cv", "lsoa_dispersion", "beta"}, {"la_corr"}),
    ({"family": "poisson"}, {"la_effect", "msoa_cv"}, {"lsoa_dispersion"}),
    ({"msoa_effects": False}, {"la_effect", "lsoa_dispersion"}, {"msoa_cv"}),
    ({"la_effects": False}, {"msoa_cv"}, {"la_effect", "sigma_la"}),
    ({"correlated_la": True}, {"la_effect", "sigma_la", "la_corr"}, {"la_latent"}),
    ({"covariates": ["idaci"]}, {"beta"}, set()),
    ({"covariates": []}, set(), {"beta"}),
    ({"la_parameterisation": "noncentred"}, {"la_latent"}, set()),
    ({"la_parameterisation": "centred"}, {"la_latent"}, set()),
])
def test_variants_build_with_canonical_dims_and_finite_logp(data, options, present, absent):
    area = AreaDemandModel(data, options)
    model = area.build_model()
    names = set(model.named_vars)
    assert present <= names
    assert not (absent & names)
    assert_canonical_dims(model)
    if "la_effect" in names:
        assert model.named_vars_to_dims["la_effect"] == (dims.LA, dims.SERVICE)
    if "la_corr" in names:
        assert model.named_vars_to_dims["la_corr"] == (dims.SERVICE, dims.SERVICE_B)
    if "beta" in names:
        expected = list(options.get("covariates", data.covariate_names))
        assert list(model.coords[dims.COVARIATE]) == expected
    logps = model.point_logps()
    assert all(np.isfinite(v) for v in logps.values()), logps


# ====================================================================== likelihood vs scipy
INTERCEPT = np.array([-3.6, -5.1])
BETA = np.array([[0.55, 0.15], [0.9, -0.25]])
SIGMA_LA = np.array([0.3, 0.45])
MSOA_CV = np.array([0.25, 0.4])
LSOA_DISPERSION = np.array([0.7, 2.5])


def parameter_point(model: pm.Model, data: AreaData):
    """A point of the model's value variables and the LA effects it implies, derived from
    the documented adaptive parameterisation: for cells with an observed LA total ``n``,
    weight ``w = sigma^2 / (sigma^2 + 1/(n + 0.5) + msoa_cv^2 * sum E_m^2 / (sum E_m)^2)``
    (no last term without MSOA effects), 0 elsewhere; location ``w * (log(sum of fixed
    rates / exposure) - log((n + 0.5) / exposure))``; ``la_effect = sigma^(1 - w) *
    (la_latent - location)``.
    """
    rng = np.random.default_rng(11)
    geo = data.geography
    totals = data.la_totals().to_numpy()
    msoa_exposure = geo.aggregate(data.exposure, dims.LSOA, dims.MSOA)
    la_exposure = geo.aggregate(data.exposure, dims.LSOA, dims.LA)
    msoa_factor = geo.aggregate(msoa_exposure ** 2, dims.MSOA, dims.LA) / la_exposure ** 2
    msoa_cv = MSOA_CV if "msoa_cv_log__" in model.initial_point() else np.zeros(2)
    variance = 1.0 / (totals + 0.5) + msoa_cv[None, :] ** 2 * msoa_factor[:, None]
    weight = np.where(np.isnan(totals), 0.0, SIGMA_LA ** 2 / (SIGMA_LA ** 2 + variance))
    la_fixed = geo.aggregate(fixed_rates(data, INTERCEPT, BETA).T, dims.LSOA, dims.LA).T
    empirical = np.where(np.isnan(totals), 0.0, np.log((totals + 0.5) / la_exposure[:, None]))
    location = weight * (np.log(la_fixed / la_exposure[:, None]) - empirical)
    latent = location + rng.normal(0.0, 1.0, weight.shape) * SIGMA_LA ** weight
    effect = SIGMA_LA ** (1.0 - weight) * (latent - location)
    values = {"intercept": INTERCEPT, "beta": BETA, "sigma_la_log__": np.log(SIGMA_LA),
              "msoa_cv_log__": np.log(MSOA_CV),
              "lsoa_dispersion_log__": np.log(LSOA_DISPERSION), "la_latent": latent}
    point = model.initial_point()
    assert set(point) <= set(values), set(point) - set(values)
    return {k: np.asarray(values[k], dtype=float) for k in point}, effect, weight


@pytest.fixture(scope="module")
def negbin_case(data):
    area = AreaDemandModel(data)
    model = area.build_model()
    point, effect, weight = parameter_point(model, data)
    names = [v.name for v in model.observed_RVs]
    return model, point, effect, weight, elementwise_logp(model, names, point)


def test_la_effect_follows_adaptive_parameterisation(negbin_case):
    model, point, effect, weight, _ = negbin_case
    [la_effect] = model.replace_rvs_by_values([model["la_effect"]])
    computed = model.compile_fn(la_effect, inputs=model.value_vars,
                                on_unused_input="ignore")(point)
    np.testing.assert_allclose(computed, effect, rtol=1e-12, atol=1e-14)
    assert (weight == 0).any() and (weight > 0.5).any()  # unobserved and informative cells


@pytest.mark.parametrize("mode", ["adaptive", "centred", "noncentred"])
def test_la_effect_prior_is_the_same_for_every_parameterisation(data, mode):
    """Prior draws of la_effect / sigma_la are standard normal whatever the weights."""
    model = AreaDemandModel(data, {"la_parameterisation": mode}).build_model()
    prior = pm.sample_prior_predictive(draws=400, model=model, random_seed=3,
                                       var_names=["la_effect", "sigma_la"]).prior
    z = (prior["la_effect"] / prior["sigma_la"]).to_numpy().ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3


@pytest.mark.parametrize("service", SERVICES)
def test_dirichlet_multinomial_split_matches_scipy(data, negbin_case, service):
    model, _, _, _, logp = negbin_case
    j = SERVICES.index(service)
    geo = data.geography
    lam = fixed_rates(data, INTERCEPT, BETA)[:, j]
    counts = observed_counts(data, service, dims.LSOA)
    codes = codes_of(model, service, dims.LSOA)
    assert sorted(codes) == sorted(counts.index)
    pos = geo.position(dims.LSOA, codes)
    values = pd.Series(logp[f"obs_lsoa_{service}"], index=codes)
    parents = geo.lsoa_to_msoa[pos]
    assert len(np.unique(parents)) >= 2
    for m in np.unique(parents):
        members = np.flatnonzero(geo.lsoa_to_msoa == m)
        x = counts.loc[geo.lsoa_codes[members]].to_numpy()
        expected = stats.dirichlet_multinomial.logpmf(
            x, alpha=lam[members] / LSOA_DISPERSION[j], n=x.sum())
        got = values.loc[geo.lsoa_codes[members]].sum()
        np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("service", SERVICES)
def test_msoa_totals_match_scipy_negative_binomial(data, negbin_case, service):
    model, _, effect, _, logp = negbin_case
    j = SERVICES.index(service)
    geo = data.geography
    lam = fixed_rates(data, INTERCEPT, BETA)[:, j]
    msoa_rate = np.bincount(geo.lsoa_to_msoa, weights=lam, minlength=geo.n_msoa)
    counts = observed_counts(data, service, dims.MSOA)
    codes = codes_of(model, service, dims.MSOA)
    assert sorted(codes) == sorted(counts.index)
    pos = geo.position(dims.MSOA, codes)
    mu = np.exp(effect[geo.msoa_to_la[pos], j]) * msoa_rate[pos]
    alpha = 1.0 / MSOA_CV[j] ** 2
    expected = stats.nbinom.logpmf(counts.loc[codes].to_numpy(), alpha, alpha / (alpha + mu))
    np.testing.assert_allclose(logp[f"obs_msoa_{service}"], expected, rtol=1e-9)


@pytest.mark.parametrize("service", SERVICES)
def test_la_totals_match_moment_matched_negative_binomial(data, negbin_case, service):
    model, _, effect, _, logp = negbin_case
    j = SERVICES.index(service)
    geo = data.geography
    lam = fixed_rates(data, INTERCEPT, BETA)[:, j]
    msoa_rate = np.bincount(geo.lsoa_to_msoa, weights=lam, minlength=geo.n_msoa)
    sum1 = np.bincount(geo.msoa_to_la, weights=msoa_rate, minlength=geo.n_la)
    sum2 = np.bincount(geo.msoa_to_la, weights=msoa_rate**2, minlength=geo.n_la)
    counts = observed_counts(data, service, dims.LA)
    codes = codes_of(model, service, dims.LA)
    assert sorted(codes) == sorted(counts.index)
    pos = geo.position(dims.LA, codes)
    a = 1.0 / MSOA_CV[j] ** 2
    alpha = a * sum1[pos] ** 2 / sum2[pos]
    mu = np.exp(effect[pos, j]) * sum1[pos]
    expected = stats.nbinom.logpmf(counts.loc[codes].to_numpy(), alpha, alpha / (alpha + mu))
    np.testing.assert_allclose(logp[f"obs_la_{service}"], expected, rtol=1e-9)
    # The moment matching itself: NB(mu, alpha_l) has the mean and variance of the sum of
    # the LA's independent MSOA negative binomials.
    members = geo.msoa_to_la == pos[0]
    mu_m = np.exp(effect[pos[0], j]) * msoa_rate[members]
    var_sum = np.sum(mu_m + mu_m**2 / a)
    mean, var = stats.nbinom.stats(alpha[0], alpha[0] / (alpha[0] + mu[0]), moments="mv")
    np.testing.assert_allclose([mean, var], [mu_m.sum(), var_sum], rtol=1e-9)


@pytest.mark.parametrize("service", SERVICES)
def test_multinomial_split_of_poisson_family_matches_scipy(data, service):
    model = AreaDemandModel(data, {"family": "poisson"}).build_model()
    point, _, _ = parameter_point(model, data)
    name = f"obs_lsoa_{service}"
    values = pd.Series(elementwise_logp(model, [name], point)[name],
                       index=codes_of(model, service, dims.LSOA))
    j = SERVICES.index(service)
    geo = data.geography
    lam = fixed_rates(data, INTERCEPT, BETA)[:, j]
    counts = observed_counts(data, service, dims.LSOA)
    parents = np.unique(geo.lsoa_to_msoa[geo.position(dims.LSOA, list(values.index))])
    for m in parents:
        members = np.flatnonzero(geo.lsoa_to_msoa == m)
        x = counts.loc[geo.lsoa_codes[members]].to_numpy()
        expected = stats.multinomial.logpmf(x, n=x.sum(), p=lam[members] / lam[members].sum())
        np.testing.assert_allclose(values.loc[geo.lsoa_codes[members]].sum(), expected,
                                   rtol=1e-9)


def test_without_msoa_effects_totals_are_poisson(data):
    model = AreaDemandModel(data, {"msoa_effects": False}).build_model()
    point, effect, _ = parameter_point(model, data)
    names = [f"obs_{lvl}_{s}" for s in SERVICES for lvl in (dims.MSOA, dims.LA)]
    logp = elementwise_logp(model, names, point)
    geo = data.geography
    lam = fixed_rates(data, INTERCEPT, BETA)
    for j, service in enumerate(SERVICES):
        msoa_rate = np.bincount(geo.lsoa_to_msoa, weights=lam[:, j], minlength=geo.n_msoa)
        la_rate = np.bincount(geo.msoa_to_la, weights=msoa_rate, minlength=geo.n_la)
        for level, rate, to_la in ((dims.MSOA, msoa_rate, geo.msoa_to_la),
                                   (dims.LA, la_rate, np.arange(geo.n_la))):
            codes = codes_of(model, service, level)
            pos = geo.position(level, codes)
            mu = np.exp(effect[to_la[pos], j]) * rate[pos]
            y = observed_counts(data, service, level).loc[codes].to_numpy()
            np.testing.assert_allclose(logp[f"obs_{level}_{service}"],
                                       stats.poisson.logpmf(y, mu), rtol=1e-9)


# ====================================================================== configuration
@pytest.mark.parametrize("options, named", [
    ({"family": "zip"}, "family"),
    ({"la_effects": "yes"}, "la_effects"),
    ({"msoa_effects": 1}, "msoa_effects"),
    ({"correlated_la": "true"}, "correlated_la"),
    ({"la_parameterisation": "partial"}, "la_parameterisation"),
    ({"la_parameterisation": 1}, "la_parameterisation"),
    ({"correlated_la": True, "la_effects": False}, "correlated_la"),
    ({"no_such_option": True}, "no_such_option"),
])
def test_bad_config_raises_config_error_naming_the_option(data, options, named):
    with pytest.raises(ConfigError, match=named):
        AreaDemandModel(data, options)


def test_config_round_trips_through_dict():
    config = AreaModelConfig(family="poisson", correlated_la=True, covariates=["idaci"],
                             la_parameterisation="noncentred")
    assert config.covariates == ("idaci",)
    assert AreaModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_unknown_covariate_is_named(data):
    with pytest.raises(ConfigError, match="poverty"):
        AreaDemandModel(data, {"covariates": ["idaci", "poverty"]})


def _sigma_la_logp(area: AreaDemandModel, sigma: float) -> float:
    model = area.build_model()
    fn = model.compile_logp(vars=[model["sigma_la"]], jacobian=False)
    point = {**model.initial_point(),
             "sigma_la_log__": np.full(len(SERVICES), np.log(sigma))}
    return float(fn(point))


@pytest.mark.parametrize("override", [
    {"sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 2.0}, "dims": ["service"]}},
    {"sigma_la": Prior("HalfNormal", sigma=2.0, dims="service")},
    {"schema_version": 1,
     "priors": {"sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 2.0},
                             "dims": ["service"]}}},
])
def test_prior_override_by_name_changes_the_model(data, override):
    default = _sigma_la_logp(AreaDemandModel(data), 0.3)
    changed = _sigma_la_logp(AreaDemandModel(data, priors=override), 0.3)
    n = len(SERVICES)
    np.testing.assert_allclose(default, n * stats.halfnorm.logpdf(0.3, scale=0.5), rtol=1e-7)
    np.testing.assert_allclose(changed, n * stats.halfnorm.logpdf(0.3, scale=2.0), rtol=1e-7)


def test_prior_override_reaches_point_logps(data):
    override = {"sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 2.0},
                             "dims": ["service"]}}
    point = {"sigma_la_log__": np.full(len(SERVICES), np.log(0.3))}
    logps = []
    for priors in (None, override):
        model = AreaDemandModel(data, {"la_effects": True}, priors=priors).build_model()
        full = {**model.initial_point(), **point}
        logps.append(model.point_logps(full)["sigma_la"])
    assert logps[0] != logps[1]


def test_unknown_prior_name_raises_prior_config_error(data):
    with pytest.raises(PriorConfigError, match="sigma_policy"):
        AreaDemandModel(data, priors={"sigma_policy": {"dist": "HalfNormal",
                                                       "kwargs": {"sigma": 1.0}}})


@pytest.mark.parametrize("kwargs, named", [
    ({"sampler": "bogus"}, "sampler"),
    ({"draws": 0}, "draws"),
    ({"chains": 1.5}, "chains"),
])
def test_bad_fit_arguments_raise_before_sampling(data, kwargs, named):
    with pytest.raises(ConfigError, match=named):
        AreaDemandModel(data).fit(random_seed=1, **kwargs)


# ====================================================================== mocked fit
@pytest.fixture(scope="module")
def fitted(data):
    return hidden_la_fit(data)


def test_fit_stores_config_data_hash_and_convergence(fitted):
    area, idata, _ = fitted
    post = idata.posterior
    assert (post.sizes[dims.CHAIN], post.sizes[dims.DRAW]) == (2, 20)
    assert post["la_effect"].dims == (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
    assert idata_io.get_kind(idata) == "area"
    assert idata_io.get_data_hash(idata) == area.data.data_hash()
    config = idata_io.get_config(idata)
    assert config["model"] == area.config.to_dict()
    assert config["services"] == list(SERVICES)
    assert config["covariates"] == list(area.covariate_names)
    assert config["run"]["random_seed"] == 1
    assert set(config["priors"]["priors"]) >= {"intercept", "beta", "sigma_la"}
    conv = json.loads(post.attrs["bayes_needs_convergence"])
    assert (conv["n_chains"], conv["n_draws"], conv["divergences"]) == (2, 20, 0)
    for key in ("rhat_max", "ess_bulk_min", "ess_tail_min"):
        assert np.isfinite(conv[key])
    assert set(conv["per_variable"]["rhat_max"]) >= {"intercept", "sigma_la", "msoa_cv"}


def test_save_load_round_trip(fitted, tmp_path):
    area, idata, _ = fitted
    path = area.save(idata, tmp_path / "fit.nc")
    loaded_area, loaded = AreaDemandModel.load(path, area.data)
    # The saved posterior names every LA; the internal la_latent is read back into it.
    assert list(loaded.posterior[dims.LA_NAME].to_numpy()) == \
        list(area.data.geography.la_names)
    xr.testing.assert_equal(loaded.posterior.drop_vars(dims.LA_NAME), idata.posterior)
    for attr in (idata_io.CONFIG_ATTR, idata_io.DATA_HASH_ATTR, idata_io.KIND_ATTR):
        assert loaded.posterior.attrs[attr] == idata.posterior.attrs[attr]
    assert loaded_area.config == area.config
    assert loaded_area.services == area.services
    assert loaded_area.covariate_names == area.covariate_names
    assert {k: v.to_dict() for k, v in loaded_area.priors.items()} == \
        {k: v.to_dict() for k, v in area.priors.items()}


def test_load_with_changed_data_raises_hash_mismatch(fitted, tmp_path):
    area, idata, _ = fitted
    path = area.save(idata, tmp_path / "fit.nc")
    changed = area.data.observations.copy()
    changed.loc[0, "count"] += 1
    with pytest.raises(DataHashMismatchError):
        AreaDemandModel.load(path, with_counts(area.data, changed))


def test_load_of_a_non_netcdf_file_raises_user_error(fitted, tmp_path):
    area = fitted[0]
    path = tmp_path / "fit.nc"
    path.write_text("this is not netCDF\n")
    with pytest.raises(BayesNeedsError, match=r"fit\.nc"):
        AreaDemandModel.load(path, area.data)
    with pytest.raises(BayesNeedsError):
        AreaDemandModel.load(tmp_path / "missing.nc", area.data)
