"""The Laplace approximation: exact on a conjugate model, structured Hessian = dense one,
blocks of a factorising posterior weighted and resampled on their own."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from pymc.blocking import DictToArrayBijection

from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.laplace import HessianLayout, find_mode, hessian, laplace_fit, layout_for
from bayes_needs.models.laplace_functions import BlockSpec, density_functions
from bayes_needs.models.laplace_mode import APPROACH_MEMORY, APPROACH_TOLERANCE
from bayes_needs.simulate.area import generate_area

PRIOR_SD, NOISE_SD = 10.0, 1.0


def test_a_normal_mean_with_known_variance_gets_its_exact_posterior():
    # y_i ~ N(mu, 1), mu ~ N(0, 10^2): the posterior is exactly Gaussian, so the Laplace
    # approximation is exact and the importance weights are flat.
    y = np.random.default_rng(3).normal(1.5, NOISE_SD, size=20)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.Normal("y", mu, NOISE_SD, observed=y)
    precision = PRIOR_SD**-2 + len(y) / NOISE_SD**2
    exact_mean, exact_sd = y.sum() / NOISE_SD**2 / precision, precision**-0.5
    result = laplace_fit(model, random_seed=1, draws=1000, chains=2)
    draws = result.draws["mu"]
    assert draws.shape == (2, 1000)
    # Monte Carlo error of the mean of 2000 independent draws: exact_sd / 45 ~ 0.005.
    assert draws.mean() == pytest.approx(exact_mean, abs=4 * exact_sd / np.sqrt(2000))
    assert draws.std() == pytest.approx(exact_sd, rel=0.05)
    assert result.pareto_k < 0.5
    assert result.importance_ess > 1900


def test_independent_blocks_each_get_their_exact_posterior_and_independent_draws():
    # Two unrelated normal means: the posterior factorises, each block is exact, and each is
    # resampled on its own (so the draws of the two blocks are uncorrelated).
    rng = np.random.default_rng(5)
    y = [rng.normal(1.5, NOISE_SD, size=20), rng.normal(-3.0, NOISE_SD, size=5)]
    with pm.Model(coords={"block": ["a", "b"]}) as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD, dims="block")
        pm.Deterministic("double", 2.0 * mu, dims="block")
        for j, values in enumerate(y):
            pm.Normal(f"y_{j}", mu[j], NOISE_SD, observed=values)
    spec = BlockSpec("block", {"y_0": 0, "y_1": 1})
    result = laplace_fit(model, random_seed=2, draws=1000, chains=2, block_spec=spec)
    assert result.blocks == 2
    draws = result.draws["mu"].reshape(-1, 2)
    for j, values in enumerate(y):
        precision = PRIOR_SD**-2 + len(values) / NOISE_SD**2
        exact_mean, exact_sd = values.sum() / NOISE_SD**2 / precision, precision**-0.5
        assert draws[:, j].mean() == pytest.approx(exact_mean, abs=4 * exact_sd / np.sqrt(2000))
        assert draws[:, j].std() == pytest.approx(exact_sd, rel=0.07)
    np.testing.assert_allclose(result.draws["double"].reshape(-1, 2), 2 * draws)
    assert abs(np.corrcoef(draws.T)[0, 1]) < 0.1
    assert result.pareto_k < 0.5 and result.importance_ess > 1500
    # Without the declaration the same model is one block.
    assert laplace_fit(model, random_seed=2, draws=100, chains=1).blocks == 1


def test_the_structured_hessian_of_the_area_model_equals_the_dense_one():
    data = generate_area("tiny", random_seed=0, services=("cin", "cla")).data
    area = AreaDemandModel(data)
    model = area.build_model()
    point = model.initial_point()
    raveled = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars})
    value_and_gradient = model.logp_dlogp_function(ravel_inputs=True, initial_point=point)
    value_and_gradient.set_extra_values({})

    def gradient(x):
        return np.asarray(value_and_gradient(x)[1], dtype=float)

    structured = layout_for(model, {"la_latent": 0})
    assert structured.local_index.shape == (data.geography.n_la, 2)   # LAs x services
    dense = HessianLayout.dense(raveled.data.size)
    assert structured.gradients_per_hessian < dense.gradients_per_hessian
    x = raveled.data + np.random.default_rng(0).normal(0.0, 0.1, raveled.data.size)
    expected = hessian(gradient, x, dense)
    got = hessian(gradient, x, structured)
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * scale)


def test_a_second_fit_of_the_same_model_reuses_its_functions_and_draws():
    data = generate_area("tiny", random_seed=0, services=("cin", "cla")).data
    first, second = AreaDemandModel(data), AreaDemandModel(data)
    fits = [area.fit(random_seed=5, draws=50, chains=1, method="laplace")
            for area in (first, second)]
    model = second.built_model()
    cached = density_functions(model, model.initial_point(), second.graph_key())
    assert density_functions(first.built_model(), model.initial_point(),
                             first.graph_key()) is cached
    for name in ("intercept", "sigma_la", "la_effect"):
        np.testing.assert_array_equal(fits[0].posterior[name].values,
                                      fits[1].posterior[name].values)


def test_the_mode_does_not_depend_on_where_l_bfgs_hands_over_to_newton():
    data = generate_area("tiny", random_seed=0, services=("cin", "cla")).data
    model = AreaDemandModel(data).build_model()
    point = model.initial_point()
    raveled = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars})
    functions = density_functions(model, point)
    layout = layout_for(model, {"la_latent": 0})
    modes = [find_mode(functions.value_and_gradient, raveled.data, layout,
                       approach_tolerance=tolerance, approach_memory=memory)
             for tolerance, memory in ((1e-6, 10), (APPROACH_TOLERANCE, APPROACH_MEMORY))]
    np.testing.assert_allclose(modes[1][0], modes[0][0], atol=1e-5)
    assert modes[1][1] == pytest.approx(modes[0][1], abs=1e-8)
