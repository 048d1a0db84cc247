"""The SBC simulator: counts follow the model's likelihood, the truth follows expected_need,
and both come from the same generative functions as the synthetic generator.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from bayes_needs.checks import sbc_simulation as sim
from bayes_needs.checks.sbc import SBCSettings
from bayes_needs.core import dims
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.simulate import generative
from bayes_needs.simulate.area import generate_area


@pytest.fixture(scope="module")
def template():
    return sim.template_model(SBCSettings())


def test_simulated_totals_follow_the_model_likelihood(template):
    """MSOA and LA totals simulated with numpy have the distribution PyMC's own likelihood
    gives for the same parameters: means agree within Monte Carlo error, and so do variances
    on average over each service and level (a wrong overdispersion would shift them).
    """
    params = sim.draw_prior(template, random_seed=3)
    fixed = pm.do(template.model, {k: v.to_numpy() for k, v in params.items()})
    n_pymc, n_numpy = 2000, 400
    sims = [sim.simulate_counts(template, params, seed) for seed in range(n_numpy)]
    checked = 0
    for j, service in enumerate(template.services):
        obs = template.observations[service]
        for level, pos, arrays in ((dims.MSOA, obs.msoa_pos, [s.msoa_total for s in sims]),
                                   (dims.LA, obs.la_pos, [s.la_total for s in sims])):
            if not len(pos):
                continue
            ours = np.stack([a[pos, j] for a in arrays]).astype(float)
            theirs = pm.draw(fixed[f"obs_{level}_{service}"], draws=n_pymc,
                             random_seed=j).astype(float)
            se = np.sqrt(ours.var(0) / n_numpy + theirs.var(0) / n_pymc) + 1e-12
            z = (ours.mean(0) - theirs.mean(0)) / se
            assert np.abs(z).max() < 5, (service, level, z)
            positive = theirs.var(0) > 0
            log_ratio = np.log(ours.var(0)[positive] / theirs.var(0)[positive]).mean()
            assert abs(log_ratio) < 0.25, (service, level, log_ratio)
            checked += 1
    assert checked >= 3  # MSOA and LA levels of both services in the template layout


def test_lsoa_counts_split_the_msoa_totals(template):
    params = sim.draw_prior(template, random_seed=4)
    simulated = sim.simulate_counts(template, params, 11)
    geo = template.data.geography
    by_msoa = geo.aggregate(simulated.lsoa_count.T, dims.LSOA, dims.MSOA).T
    np.testing.assert_array_equal(by_msoa, simulated.msoa_total)
    # The observation table carries exactly the simulated counts of its units.
    obs = simulated.observations
    for (service, level), rows in obs.groupby(["service", "level"]):
        array = {dims.LSOA: simulated.lsoa_count, dims.MSOA: simulated.msoa_total,
                 dims.LA: simulated.la_total}[level]
        pos = geo.position(level, rows["area_code"].to_numpy())
        np.testing.assert_array_equal(rows["count"].to_numpy(),
                                      array[pos, template.services.index(service)])
    assert obs[["service", "level", "area_code"]].equals(
        template.data.observations[["service", "level", "area_code"]])


def test_observed_mask_is_the_models_msoa_layout(template):
    mask = sim.observed_msoa_mask(template.data)
    geo = template.data.geography
    assert mask.shape == (len(template.services), geo.n_msoa)
    for j, service in enumerate(template.services):
        expected = template.coords[dims.observation_dim(service, dims.MSOA)]
        assert list(geo.msoa_codes[mask[j]]) == expected
    assert mask.any() and not mask.all()


def test_true_need_uses_true_effects_of_every_msoa(template):
    """The needs-standardised truth is ``exp(sigma^2/2) * (sum over MSOAs with counts of
    g_m * Lambda_m + rest_effect * sum over the LA's other MSOAs of Lambda_m)``; LA totals are
    Poisson given that same rest effect; standardise='all' drops the effects.
    """
    params = sim.draw_prior(template, random_seed=5)
    simulated = sim.simulate_counts(template, params, 2)
    la = sim.true_need(template, params, simulated, "la")
    everything = sim.true_need(template, params, simulated, "all")
    geo = template.data.geography
    assert la.shape == everything.shape == (geo.n_la, len(template.services))
    assert (la > 0).all() and (everything > 0).all()
    observed = sim.observed_msoa_mask(template.data)
    any_observed = geo.aggregate(observed.astype(float), dims.MSOA, dims.LA).T > 0
    # LAs without MSOA counts: the truth scales the covariate-only need by the rest effect.
    np.testing.assert_allclose(la[~any_observed],
                               (everything * simulated.rest_effect)[~any_observed],
                               rtol=1e-12)
    assert not np.allclose(la[any_observed], everything[any_observed])
    # Rest effects are mean-one gammas: across many simulations their mean is about 1.
    rests = np.stack([sim.simulate_counts(template, params, k).rest_effect[~any_observed]
                      for k in range(400)])
    assert abs(rests.mean() - 1.0) < 4 * rests.std() / np.sqrt(rests.size)


# ---------------------------------------------------------------- one forward model
def test_sbc_rates_are_the_synthetic_generators_for_the_same_parameters():
    """Given the generator's true intercept and beta, SBC computes its lambda bit for bit."""
    tiny = generate_area("tiny", random_seed=11, services=[dims.CIN, dims.CLA])
    model = AreaDemandModel(tiny.data, {"covariates": ["idaci", "imd"]})
    params = {"intercept": tiny.truth["intercept"], "beta": tiny.truth["beta"]}
    np.testing.assert_array_equal(sim.fixed_rates(model, params),
                                  tiny.truth["lambda"].to_numpy())


def test_simulate_counts_is_the_generative_functions_in_order(template):
    """SBC's counts are the generative functions' draws on one stream: per service the MSOA
    effects, totals and split, then the LA totals."""
    params = sim.draw_prior(template, random_seed=6)
    simulated = sim.simulate_counts(template, params, 21)
    data, geo = template.data, template.data.geography
    rng = np.random.default_rng(21)
    rates = sim.fixed_rates(template, params)
    msoa_rate = geo.aggregate(rates.T, dims.LSOA, dims.MSOA)
    la_mult = np.exp(params["la_effect"].transpose(dims.SERVICE, dims.LA).to_numpy())
    shape = 1.0 / params["msoa_cv"].to_numpy() ** 2
    effects = []
    for j in range(len(template.services)):
        drawn = generative.simulate_service(
            rates[:, j], msoa_rate[j], la_mult[j, geo.msoa_to_la], geo.lsoa_to_msoa, rng,
            msoa_shape=float(shape[j]), dispersion=float(params["lsoa_dispersion"][j]))
        np.testing.assert_array_equal(drawn.msoa_effect, simulated.msoa_effect[:, j])
        np.testing.assert_array_equal(drawn.lsoa_count, simulated.lsoa_count[:, j])
        effects.append(drawn.msoa_effect)
    observed = sim.observed_msoa_mask(data)
    rest, rest_sq = generative.rest_moments(msoa_rate, ~observed, geo)
    own = geo.aggregate(np.stack(effects) * msoa_rate * observed, dims.MSOA, dims.LA)
    rest_effect, la_total = generative.la_totals(
        own, rest, generative.moment_matched_shape(shape[:, None], rest, rest_sq), la_mult, rng)
    np.testing.assert_array_equal(rest_effect.T, simulated.rest_effect)
    np.testing.assert_array_equal(la_total.T, simulated.la_total)


def test_prior_draw_has_every_tracked_parameter(template):
    params = sim.draw_prior(template, random_seed=7)
    assert set(params) == {"intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion",
                           "la_effect"}
    assert all(isinstance(v, xr.DataArray) and dims.CHAIN not in v.dims
               for v in params.values())
    again = sim.draw_prior(template, random_seed=7)
    assert all(np.array_equal(params[k], again[k]) for k in params)
