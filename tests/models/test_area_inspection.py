"""A saved area fit read by stock ArviZ: layout (mocked sampler) and LOO sanity (real NUTS)."""

from __future__ import annotations

import warnings
from pathlib import Path

import arviz as az
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from area_fits import SERVICES, fixed_rates, tiny_area_data
from sampling_mocks import patched_sample
from scipy import stats

from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.models.area import INTERNAL_VARIABLES, AreaDemandModel
from bayes_needs.models.area_inspection import LEVELS, variable_name

matplotlib.use("Agg")

#: Saved variables, one per level.
VARIABLES = [variable_name(level) for level in LEVELS]


@pytest.fixture(scope="module")
def saved_poisson(tmp_path_factory) -> tuple[AreaDemandModel, Path]:
    """A mocked fit (2 chains x 10 draws) of the multinomial-split family, saved; shared by
    tests that only read it."""
    area = AreaDemandModel(tiny_area_data(), {"family": "poisson"})
    with patched_sample():
        idata = area.fit(random_seed=1, draws=10, chains=2)
    return area, area.save(idata, tmp_path_factory.mktemp("poisson") / "fit.nc")


def test_observations_and_predictions_are_one_variable_per_level(saved_poisson):
    area, path = saved_poisson
    raw = az.from_netcdf(path)
    for group in ("observed_data", "posterior_predictive"):
        assert sorted(raw[group].data_vars) == sorted(VARIABLES)
    for level in LEVELS:
        name, dim = variable_name(level), dims.level_observation_dim(level)
        observed = raw.observed_data[name]
        services = observed[dim].to_numpy()
        # each service's observations together, in the model's service order
        assert list(dict.fromkeys(services)) == list(SERVICES)
        assert np.all(np.diff([SERVICES.index(s) for s in services]) >= 0)
        for service in SERVICES:
            obs = area.observations[service]
            pos, count = getattr(obs, f"{level}_pos"), getattr(obs, f"{level}_count")
            picked = observed.sel({dim: service})
            np.testing.assert_array_equal(picked.to_numpy(), count)
            np.testing.assert_array_equal(picked[level].to_numpy(),
                                          area.data.geography.codes(level)[pos])
        predicted = raw.posterior_predictive[name]
        assert predicted.dims == (dims.CHAIN, dims.DRAW, dim)
        assert predicted.sizes[dim] == observed.sizes[dim]
        assert np.isfinite(predicted.to_numpy()).all()
    # the LSOA split keeps each MSOA's observed total in every predictive draw
    lsoa = raw.posterior_predictive[variable_name(dims.LSOA)]
    for service in SERVICES:
        obs = area.observations[service]
        draws = lsoa.sel({dims.level_observation_dim(dims.LSOA): service}).to_numpy()
        totals = np.stack([np.bincount(obs.lsoa_group, weights=d) for d in
                           draws.reshape(-1, draws.shape[-1])])
        np.testing.assert_array_equal(totals, np.broadcast_to(obs.split_msoa_count,
                                                              totals.shape))


def test_lsoa_split_log_likelihood_is_each_msoas_multinomial_density(saved_poisson):
    area, path = saved_poisson
    raw = az.from_netcdf(path)
    log_lik = raw.log_likelihood[variable_name(dims.LSOA)]
    assert log_lik.dims == (dims.CHAIN, dims.DRAW, dims.LSOA_SPLIT)
    assert "description" in log_lik.attrs
    post = raw.posterior.isel({dims.CHAIN: 1, dims.DRAW: 3})
    rates = fixed_rates(area.data, post["intercept"].to_numpy(), post["beta"].to_numpy())
    for j, service in enumerate(SERVICES):
        obs = area.observations[service]
        values = log_lik.isel({dims.CHAIN: 1, dims.DRAW: 3}).sel({dims.LSOA_SPLIT: service})
        assert list(values[dims.SPLIT_MSOA].to_numpy()) == \
            list(area.data.geography.codes(dims.MSOA)[obs.split_msoa_pos])
        for k, total in enumerate(obs.split_msoa_count):
            members = obs.lsoa_group == k
            weight = rates[obs.lsoa_pos[members], j]
            expected = stats.multinomial.logpmf(obs.lsoa_count[members], n=total,
                                                p=weight / weight.sum())
            np.testing.assert_allclose(values.to_numpy()[k], expected, rtol=1e-8)


def test_saved_posterior_names_las_and_leaves_out_the_reparameterisation(saved_poisson):
    area, path = saved_poisson
    raw = az.from_netcdf(path)
    names = list(area.data.geography.la_names)
    for group in raw.groups():
        if dims.LA in raw[group].dims:
            assert list(raw[group][dims.LA_NAME].to_numpy()) == names, group
    la_obs = raw.observed_data[variable_name(dims.LA)]
    expected = area.data.geography.names(dims.LA)[area.data.geography.position(
        dims.LA, la_obs[dims.LA].to_numpy())]
    assert list(la_obs[dims.LA_NAME].to_numpy()) == list(expected)
    assert "la_latent" not in raw.posterior
    assert "la_latent" in raw[idata_io.INTERNAL_GROUP]
    summary = az.summary(raw, kind="stats")
    assert not any(row.startswith(INTERNAL_VARIABLES) for row in summary.index)
    # read back by the package, PyMC gets every free variable again
    _, loaded = AreaDemandModel.load(path, area.data)
    assert "la_latent" in idata_io.posterior(loaded)


@pytest.mark.parametrize("options, internal", [
    ({"correlated_la": True}, "la_raw"),
    ({"msoa_effects": False, "la_parameterisation": "noncentred"}, "la_latent"),
    ({"la_effects": False}, None),
])
def test_every_variant_saves_for_arviz_and_reads_back(tmp_path, mocked_sampler, options,
                                                      internal):
    area = AreaDemandModel(tiny_area_data(), options)
    idata = area.fit(random_seed=2, draws=10, chains=2)
    path = area.save(idata, tmp_path / "fit.nc")
    raw = az.from_netcdf(path)
    for group in ("observed_data", "posterior_predictive", "log_likelihood"):
        assert sorted(raw[group].data_vars) == sorted(VARIABLES), group
        assert all(np.isfinite(v.to_numpy()).all() for v in raw[group].data_vars.values())
    if internal is not None:
        assert internal not in raw.posterior and internal in raw[idata_io.INTERNAL_GROUP]
    _, loaded = AreaDemandModel.load(path, area.data)
    assert set(idata_io.posterior(idata).data_vars) == set(idata_io.posterior(loaded).data_vars)


@pytest.fixture(scope="module")
def real_fits(tmp_path_factory) -> dict[str, Path]:
    """Tiny NUTS fits (2 chains x 200 draws) of both families, saved.

    LOO needs real posterior draws: a mocked sampler's prior draws give meaningless weights.
    PyMC's own NUTS: on models this small nutpie's numba compilation costs more than the
    sampling (nutpie is tested in tests/models/test_sampling.py).
    """
    out = tmp_path_factory.mktemp("fits")
    paths = {}
    for family in ("negbin", "poisson"):
        area = AreaDemandModel(tiny_area_data(), {"family": family})
        idata = area.fit(random_seed=11, draws=200, tune=200, chains=2, cores=1,
                         sampler="pymc")
        paths[family] = area.save(idata, out / f"{family}.nc")
    return paths


def test_stock_arviz_loo_compare_and_plots_on_saved_fits(real_fits):
    fits = {family: az.from_netcdf(path) for family, path in real_fits.items()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto distribution.*")
        for idata in fits.values():
            for name in VARIABLES:
                loo = az.loo(idata, var_name=name, pointwise=True)
                k = loo.pareto_k.to_numpy()
                assert np.isfinite(loo.elpd_loo)
                assert 0 < loo.p_loo < loo.n_data_points
                # Each LA has its own effect, so leaving its total out moves the posterior
                # far and k̂ near 1 is expected there (0.4-1.6 over seeds and target
                # acceptance rates); a wrong pointwise log-likelihood gives k̂ far above.
                assert (k < (2.0 if name == variable_name(dims.LA) else 1.0)).all(), (name, k)
        table = az.compare(fits, var_name=variable_name(dims.MSOA))
    assert sorted(table["rank"]) == [0, 1]
    assert np.isfinite(table["elpd_loo"]).all()
    negbin = fits["negbin"]
    axes = az.plot_ppc(negbin, num_pp_samples=20, random_seed=1)
    assert np.size(axes) == len(LEVELS)
    for level in LEVELS:
        dim = dims.level_observation_dim(level)
        fig, per_service = plt.subplots(1, len(SERVICES))
        for ax, service in zip(per_service, SERVICES, strict=True):
            az.plot_ppc(negbin, var_names=[variable_name(level)], coords={dim: [service]},
                        num_pp_samples=20, random_seed=1, ax=ax)
            assert ax.has_data()
        plt.close(fig)
    for level in (dims.MSOA, dims.LA):
        assert az.plot_loo_pit(negbin, y=variable_name(level)).has_data()
    plt.close("all")
