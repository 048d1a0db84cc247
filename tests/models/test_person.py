"""The person demand model: the collapsed likelihood equals the row-level one up to a constant
(model against model, and against scipy computed child by child), hold-outs, persistence and
configuration errors (mocked sampler for fits). Need from a fit: tests/need/test_person.py.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytest
from fit_files import CONVERGENCE, edit_json_attr, looks_converged, rewrite_fit
from person_world import SERVICES, World, linear_predictor, make_world, person_data
from sampling_mocks import patched_sample
from scipy import integrate, stats
from scipy.special import expit, gammaln

from bayes_needs.config.models import PersonModelConfig
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigError,
    DataHashMismatchError,
    DataValidationError,
)
from bayes_needs.models.person import PersonDemandModel


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def likelihood(model: pm.Model):
    """The model's data log-likelihood (its ``loglik`` potential) as a function of a point."""
    (out,) = model.replace_rvs_by_values([model["loglik"]])
    fn = pytensor.function(model.value_vars, out, on_unused_input="ignore")
    return lambda point: float(fn(**point))


def values(model: pm.Model, names):
    """Function of a point returning the constrained values of ``names``."""
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    return lambda point: dict(zip(names, fn(**point), strict=True))


def points(model: pm.Model, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    start = model.initial_point()
    return [{k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()}
            for _ in range(n)]


def la_and_msoa(world, records):
    geo = world.geography
    lsoa = geo.position(dims.LSOA, records["lsoa_code"].astype(str).to_numpy())
    return geo.lsoa_to_la[lsoa], geo.lsoa_to_msoa[lsoa]


# ====================================================================== exactness
@pytest.mark.parametrize("options", [{}, {"lsoa_effects": True}, {"msoa_effects": False},
                                     {"la_effects": False, "msoa_effects": False}])
def test_collapsed_likelihood_equals_row_level_up_to_a_constant(world, options):
    collapsed = PersonDemandModel(person_data(world), options).build_model()
    rows = PersonDemandModel(person_data(world, keep_rows=True),
                             {**options, "row_level": True}).build_model()
    f_cells, f_rows = likelihood(collapsed), likelihood(rows)
    gaps = [f_cells(p) - f_rows(p) for p in points(collapsed, 3, seed=1)]
    assert np.ptp(gaps) < 1e-6 * abs(f_rows(points(collapsed, 1, seed=2)[0]))


def test_collapsed_poisson_matches_scipy_child_by_child(world):
    records = world.records
    model = PersonDemandModel(person_data(world), {"msoa_effects": False}).build_model()
    f, get = likelihood(model), values(model, ["intercept", "beta", "gamma", "la_effect"])
    la, _ = la_and_msoa(world, records)
    y = records[list(SERVICES)].to_numpy()
    gaps = []
    for p in points(model, 2, seed=3):
        v = get(p)
        mu = records["exposure"].to_numpy()[:, None] * np.exp(
            linear_predictor(world, records, v) + v["la_effect"][la])
        gaps.append(f(p) - stats.poisson.logpmf(y, mu).sum())
    assert gaps[0] == pytest.approx(gaps[1], abs=1e-6)


def test_gamma_msoa_effects_match_numerical_integration(world):
    """The analytic NB marginal equals integrating each MSOA's gamma effect numerically."""
    geo, records = world.geography, world.records
    keep = records["lsoa_code"].astype(str).isin(geo.lsoa_codes[geo.lsoa_to_msoa < 6])
    small = records[keep].reset_index(drop=True)
    model = PersonDemandModel(person_data(world, small, population=False),
                              {"la_effects": False}).build_model()
    f = likelihood(model)
    get = values(model, ["intercept", "beta", "gamma", "msoa_cv"])
    _, msoa = la_and_msoa(world, small)
    y = small[list(SERVICES)].to_numpy()

    def integrated(v):
        """Sum over MSOAs of log integral of prod_i Poisson(y_i | mu_i g) Gamma(g | a, a)."""
        mu = small["exposure"].to_numpy()[:, None] * np.exp(linear_predictor(world, small, v))
        total = 0.0
        for j in range(len(SERVICES)):
            a = 1.0 / v["msoa_cv"][j] ** 2
            for m in np.unique(msoa):
                rows = msoa == m
                ym, lam = y[rows, j].sum(), mu[rows, j].sum()

                def log_f(g, ym=ym, lam=lam, a=a):
                    return ym * np.log(g) - lam * g + stats.gamma.logpdf(g, a, scale=1 / a)

                peak = log_f(max((a + ym - 1) / (a + lam), 1e-8))
                value, _ = integrate.quad(lambda g, peak=peak, log_f=log_f:
                                          np.exp(log_f(g) - peak), 0, np.inf, limit=200,
                                          epsabs=0, epsrel=1e-11)
                total += ((y[rows, j] * np.log(mu[rows, j]) - gammaln(y[rows, j] + 1)).sum()
                          + peak + np.log(value))
        return total

    gaps = [f(p) - integrated(get(p)) for p in points(model, 2, seed=4)]
    assert gaps[0] == pytest.approx(gaps[1], abs=1e-5)


def test_negbin_cell_split_matches_scipy_dirichlet_multinomial(world):
    data = person_data(world)
    model = PersonDemandModel(data, {"family": "negbin", "la_effects": False,
                                     "msoa_effects": False}).build_model()
    f = likelihood(model)
    get = values(model, ["intercept", "beta", "gamma", "child_dispersion"])
    cells, geo = data.cells, world.geography
    pattern = cells.pattern_frame().iloc[cells.pattern].reset_index(drop=True)
    frame = pattern.assign(lsoa_code=geo.lsoa_codes[cells.lsoa])
    msoa = geo.lsoa_to_msoa[cells.lsoa]

    def direct(v):
        mu = cells.exposure[:, None] * np.exp(linear_predictor(world, frame, v))
        total = 0.0
        for j in range(len(SERVICES)):
            y, m = cells.counts[:, j], mu[:, j]
            total += stats.poisson.logpmf(np.bincount(msoa, y), np.bincount(msoa, m)).sum()
            for k in np.unique(msoa):  # LSOA totals given the MSOA total: multinomial
                inside = msoa == k
                _, idx = np.unique(cells.lsoa[inside], return_inverse=True)
                yl, ml = np.bincount(idx, y[inside]), np.bincount(idx, m[inside])
                total += stats.multinomial.logpmf(yl, yl.sum(), ml / ml.sum())
            for k in np.unique(cells.lsoa):  # cells given the LSOA total: DirMult
                inside = cells.lsoa == k
                total += stats.dirichlet_multinomial.logpmf(
                    y[inside], m[inside] / v["child_dispersion"][j], y[inside].sum())
        return total

    gaps = [f(p) - direct(get(p)) for p in points(model, 2, seed=5)]
    assert gaps[0] == pytest.approx(gaps[1], abs=1e-5)


def test_bernoulli_collapses_to_binomial_exactly(world):
    records = world.records.copy()
    records[list(SERVICES)] = (records[list(SERVICES)] > 0).astype(int)
    model = PersonDemandModel(person_data(world, records), {"family": "bernoulli"}) \
        .build_model()
    f = likelihood(model)
    get = values(model, ["intercept", "beta", "gamma", "la_effect", "msoa_raw", "sigma_msoa"])
    la, msoa = la_and_msoa(world, records)
    observed = np.unique(msoa)
    y = records[list(SERVICES)].to_numpy()
    gaps = []
    for p in points(model, 2, seed=6):
        v = get(p)
        effect = np.zeros((world.geography.n_msoa, len(SERVICES)))
        effect[observed] = v["msoa_raw"] * v["sigma_msoa"]
        eta = linear_predictor(world, records, v) + v["la_effect"][la] + effect[msoa]
        gaps.append(f(p) - stats.bernoulli.logpmf(y, expit(eta)).sum())
    assert gaps[0] == pytest.approx(gaps[1], abs=1e-6)


def test_bernoulli_rejects_counts_above_one(world):
    with pytest.raises(DataValidationError, match="0/1 outcomes"):
        PersonDemandModel(person_data(world), {"family": "bernoulli"})


def test_held_out_la_records_do_not_enter_the_likelihood(world):
    records = world.records
    held = world.geography.la_codes[0]
    la, _ = la_and_msoa(world, records)

    def with_extra(la_pos):
        changed = records.copy()
        changed.loc[la == la_pos, "cin"] += 3
        return likelihood(PersonDemandModel(person_data(world, changed), holdout_las=[held])
                          .build_model())

    model = PersonDemandModel(person_data(world), holdout_las=[held]).build_model()
    p = points(model, 1, seed=7)[0]
    base = likelihood(model)(p)
    assert with_extra(0)(p) == pytest.approx(base, rel=1e-12)
    assert with_extra(1)(p) != pytest.approx(base, rel=1e-9)


# ====================================================================== fit and persistence
@pytest.fixture(scope="module")
def fitted(world):
    model = PersonDemandModel(person_data(world))
    with patched_sample():
        idata = model.fit(random_seed=3, draws=20, chains=1, progressbar=False)
    return model, idata


def test_fit_stores_config_hash_and_no_cell_data(fitted):
    model, idata = fitted
    assert idata_io.get_kind(idata) == "person"
    assert idata_io.get_data_hash(idata) == model.data.data_hash()
    config = idata_io.get_config(idata)
    assert config["child_terms"] == ["age_band=5-9", "age_band=10-15", "age_band=16-17",
                                     "sex=M", "fsm=Y"]
    assert not {"observed_data", "constant_data"} & set(idata.groups())


def test_save_load_round_trip_and_hash_check(fitted, world, tmp_path):
    model, idata = fitted
    path = model.save(idata, tmp_path / "fit.nc")
    loaded, again = PersonDemandModel.load(path, model.data)
    assert loaded.config == model.config
    np.testing.assert_array_equal(again.posterior["gamma"], idata.posterior["gamma"])
    changed = world.records.copy()
    changed.loc[0, "cin"] += 1
    with pytest.raises(DataHashMismatchError):
        PersonDemandModel.load(path, person_data(world, changed))


def test_load_recomputes_convergence_and_refuses_an_edited_record(fitted, tmp_path):
    model, idata = fitted
    path = model.save(idata, tmp_path / "fit.nc")
    rewrite_fit(path, edit_json_attr(CONVERGENCE, looks_converged))
    with pytest.raises(BayesNeedsError, match=r"fit\.nc: the convergence record .* "
                                              r"min bulk ESS: stored 5000, recomputed"):
        PersonDemandModel.load(path, model.data)


@pytest.mark.parametrize(("options", "named"), [
    ({"family": "zip"}, "family"), ({"lsoa_effects": "yes"}, "lsoa_effects"),
    ({"family": "bernoulli", "lsoa_effects": True}, "lsoa_effects"),
    ({"quadrature_nodes": 0}, "quadrature_nodes"), ({"colour": 1}, "colour"),
    ({"la_parameterisation": "half"}, "la_parameterisation"),
    ({"covariates": ["nope"]}, "nope")])
def test_bad_options_name_the_option(world, options, named):
    with pytest.raises(ConfigError, match=named):
        PersonDemandModel(person_data(world), options)


def test_config_round_trips():
    config = PersonModelConfig(family="negbin", covariates=("idaci",))
    assert PersonModelConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("family", ["poisson", "bernoulli"])
@pytest.mark.parametrize("mode", ["adaptive", "centred", "noncentred"])
def test_la_effect_prior_is_the_same_for_every_parameterisation(world, family, mode):
    """Prior draws of la_effect / sigma_la are standard normal whatever the weights, for
    LAs with data and for a held-out LA (always non-centred).
    """
    records = world.records
    if family == "bernoulli":
        records = records.assign(**{s: (records[s] > 0).astype(int) for s in SERVICES})
    held_out = str(world.geography.la_codes[0])
    model = PersonDemandModel(person_data(world, records),
                              {"family": family, "la_parameterisation": mode},
                              holdout_las=[held_out]).build_model()
    prior = pm.sample_prior_predictive(draws=400, model=model, random_seed=3,
                                       var_names=["la_effect", "sigma_la"]).prior
    z = (prior["la_effect"] / prior["sigma_la"]).to_numpy().ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3
