"""InferenceData access helpers (core/idata.py): groups, thinning, metadata, files."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from bayes_needs.core import convergence, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import BayesNeedsError, DataHashMismatchError, MissingDataError
from bayes_needs.core.version import __version__


def group_data(seed: int, n_chain: int = 2, n_draw: int = 10) -> xr.Dataset:
    values = np.random.default_rng(seed).normal(size=(n_chain, n_draw, 3))
    return xr.Dataset({"mu": ((dims.CHAIN, dims.DRAW, dims.LA), values)},
                      coords={dims.CHAIN: np.arange(n_chain), dims.DRAW: np.arange(n_draw)})


@pytest.fixture
def fit() -> az.InferenceData:
    observed = xr.Dataset({"y": ((dims.LA,), np.arange(3.0))})
    return az.InferenceData(posterior=group_data(1), sample_stats=group_data(2),
                            observed_data=observed)


def test_group_accessors_return_groups_or_none(fit):
    assert idata_io.posterior(fit)["mu"].shape == (2, 10, 3)
    assert idata_io.observed_data(fit)["y"].shape == (3,)
    assert idata_io.sample_stats(fit) is not None
    for accessor in (idata_io.log_likelihood, idata_io.log_prior,
                     idata_io.posterior_predictive, idata_io.prior,
                     idata_io.prior_predictive, idata_io.constant_data):
        assert accessor(fit) is None
    assert idata_io.has_group(fit, "posterior") and not idata_io.has_group(fit, "prior")
    assert idata_io.group(fit, "observed_data") is idata_io.observed_data(fit)


def test_with_groups_adds_without_changing_the_source(fit):
    extra = group_data(3)
    merged = idata_io.with_groups(fit, log_likelihood=extra)
    assert idata_io.log_likelihood(merged) is extra
    assert idata_io.log_likelihood(fit) is None
    assert idata_io.posterior(merged) is idata_io.posterior(fit)


def test_add_group_adds_and_replaces_in_place(fit):
    first, second = group_data(4), group_data(5)
    idata_io.add_group(fit, "prior", first)
    assert idata_io.prior(fit) is not None
    idata_io.add_group(fit, "prior", second)
    xr.testing.assert_identical(idata_io.prior(fit), second)


def test_internal_variables_leave_the_posterior_and_come_back(tmp_path, fit):
    post = idata_io.posterior(fit)
    post["latent"] = post["mu"] * 2.0
    post.attrs["kept"] = "yes"
    saved = idata_io.without_internal(fit, ("latent", "absent"))
    assert "latent" in idata_io.posterior(fit)  # the source is unchanged
    assert "latent" not in idata_io.posterior(saved)
    assert idata_io.posterior(saved).attrs["kept"] == "yes"
    assert "latent" not in az.summary(saved, kind="stats").index.str.split("[").str[0]
    reloaded = idata_io.load(idata_io.save(saved, tmp_path / "fit.nc"))
    assert idata_io.has_group(reloaded, idata_io.INTERNAL_GROUP)
    back = idata_io.with_internal(reloaded)
    assert not idata_io.has_group(back, idata_io.INTERNAL_GROUP)
    xr.testing.assert_equal(idata_io.posterior(back)["latent"], post["latent"])
    assert idata_io.posterior(back).attrs["kept"] == "yes"
    assert idata_io.without_internal(fit, ("absent",)) is fit
    assert idata_io.with_internal(fit) is fit


def test_dim_labels_go_on_every_group_with_the_dim(fit):
    names = ["North", "South", "East"]
    labelled = idata_io.with_dim_labels(fit, dims.LA, dims.LA_NAME, names)
    for group in ("posterior", "sample_stats", "observed_data"):
        assert list(labelled[group][dims.LA_NAME].to_numpy()) == names
        assert dims.LA_NAME not in labelled[group].indexes  # a non-index coordinate
    assert dims.LA_NAME not in idata_io.posterior(fit).coords


@pytest.mark.parametrize(("max_draws", "expected_draws"), [(20, 10), (0, 10), (10, 5), (7, 4)])
def test_thinned_keeps_every_step_th_draw(fit, max_draws, expected_draws):
    thin = idata_io.thinned(fit, max_draws)
    post = idata_io.posterior(thin)
    assert post.sizes[dims.DRAW] == expected_draws
    assert idata_io.sample_stats(thin).sizes[dims.DRAW] == expected_draws
    step = 10 // expected_draws + (10 % expected_draws > 0)
    np.testing.assert_array_equal(post["mu"].to_numpy(),
                                  idata_io.posterior(fit)["mu"].to_numpy()[:, ::step])
    assert idata_io.observed_data(thin)["y"].shape == (3,)  # no draw dim: untouched


def test_metadata_round_trips_through_a_file(tmp_path, fit):
    config = {"draws": np.int64(10), "scale": np.float64(0.5), "path": tmp_path,
              "values": np.arange(2)}
    idata_io.set_metadata(fit, kind="area", config=config, data_hash="abc")
    path = idata_io.save(fit, tmp_path / "fit.nc")
    loaded = idata_io.load(path, expected_kind="area")
    assert idata_io.get_config(loaded) == {"draws": 10, "scale": 0.5, "path": str(tmp_path),
                                           "values": [0, 1]}
    assert idata_io.get_kind(loaded) == "area"
    assert idata_io.get_data_hash(loaded) == "abc"
    assert idata_io.posterior(loaded).attrs[idata_io.VERSION_ATTR] == __version__
    idata_io.check_data_hash(loaded, "abc")
    with pytest.raises(DataHashMismatchError, match="abc"):
        idata_io.check_data_hash(loaded, "other", source="saved fit")
    with pytest.raises(BayesNeedsError, match="expected 'person'"):
        idata_io.load(path, expected_kind="person")


def test_load_errors(tmp_path, fit):
    with pytest.raises(MissingDataError):
        idata_io.load(tmp_path / "missing.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(BayesNeedsError, match="not a readable"):
        idata_io.load(tmp_path / "junk.nc")
    with pytest.raises(BayesNeedsError, match="no stored config"):
        idata_io.get_config(fit)


@pytest.mark.parametrize(("attr", "value"), [
    (idata_io.CONFIG_ATTR, "{not json"), (idata_io.CONFIG_ATTR, "[1, 2]"),
    (idata_io.CONFIG_ATTR, "[" * 100_000), (idata_io.CONFIG_ATTR, None),
    (idata_io.DATA_HASH_ATTR, None), (idata_io.DATA_HASH_ATTR, 12)])
def test_load_names_malformed_metadata(tmp_path, fit, attr, value):
    idata_io.set_metadata(fit, kind="area", config={"draws": 10}, data_hash="abc")
    attrs = idata_io.posterior(fit).attrs
    if value is None:
        del attrs[attr]
    else:
        attrs[attr] = value
    path = idata_io.save(fit, tmp_path / "fit.nc")
    with pytest.raises(BayesNeedsError, match=rf"fit\.nc: attribute '{attr}' is missing or "
                                              rf"not"):
        idata_io.load(path, expected_kind="area")
    assert idata_io.get_kind(idata_io.load(path)) == "area"  # any kind: metadata unchecked


def test_convergence_summary_without_sampler_stats(fit):
    summary = convergence.convergence_summary(fit)
    assert summary["n_chains"] == 2 and summary["n_draws"] == 10
    assert summary["divergences"] == 0 and np.isnan(summary["bfmi_min"])
    assert set(summary["per_variable"]["rhat_max"]) == {"mu"}
    assert summary["rhat_max"] == summary["per_variable"]["rhat_max"]["mu"]
