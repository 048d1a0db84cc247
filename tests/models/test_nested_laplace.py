"""The nested Laplace approximation: where one Gaussian fails, the hyperparameters' lattice."""

from __future__ import annotations

import json

import numpy as np
import pymc as pm
import pytest
from pymc.blocking import DictToArrayBijection
from scipy import stats

from bayes_needs.core import idata as idata_io
from bayes_needs.core.convergence import describe_method
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.base import FittableModel
from bayes_needs.models.fit_checks import CONVERGENCE_ATTR
from bayes_needs.models.laplace import ApproximationError, laplace_fit
from bayes_needs.models.laplace_functions import BlockSpec, density_functions
from bayes_needs.models.nested_laplace import (
    approximate_posterior,
    nested_laplace_fit,
    nested_mixture,
)
from bayes_needs.models.nested_lattice import hyper_blocks
from bayes_needs.simulate.area import generate_area

# Eight schools (Rubin 1981), centred: the joint density has no mode (it grows without bound
# as tau -> 0 with every theta at mu), the textbook case for integrating tau numerically.
SCHOOL_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOL_SD = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
MU_SD, TAU_SCALE = 5.0, 5.0


def eight_schools() -> pm.Model:
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, MU_SD)
        tau = pm.HalfCauchy("tau", TAU_SCALE)
        theta = pm.Normal("theta", mu, tau, shape=len(SCHOOL_Y))
        pm.Normal("y", theta, SCHOOL_SD, observed=SCHOOL_Y)
    return model


def exact_posterior_means() -> tuple[float, float]:
    """Return E[tau | y] and E[mu | y] by quadrature (theta and mu integrated analytically)."""
    tau = np.linspace(1e-4, 200.0, 200_001)
    variance = SCHOOL_SD**2 + tau[:, None] ** 2           # y_j | mu, tau ~ N(mu, s_j^2 + tau^2)
    precision = 1 / MU_SD**2 + np.sum(1 / variance, axis=1)
    mu_mean = np.sum(SCHOOL_Y / variance, axis=1) / precision
    log_marginal = (stats.halfcauchy.logpdf(tau, scale=TAU_SCALE)
                    - 0.5 * np.sum(np.log(variance), axis=1) - 0.5 * np.log(precision)
                    - 0.5 * np.sum(SCHOOL_Y**2 / variance, axis=1) + 0.5 * precision * mu_mean**2)
    weight = np.exp(log_marginal - log_marginal.max())
    weight /= weight.sum()
    return float(weight @ tau), float(weight @ mu_mean)


def test_eight_schools_fails_as_one_gaussian_and_is_recovered_by_the_nested_approximation():
    model = eight_schools()
    with pytest.raises(ApproximationError):
        laplace_fit(model, random_seed=1, draws=1000, chains=2)
    result = approximate_posterior(model, random_seed=1, draws=1000, chains=2, hyper=("tau",))
    assert result.variant == "nested"
    assert result.hyper_points >= 5
    assert result.pareto_k <= 0.7
    tau_mean, mu_mean = exact_posterior_means()
    # Monte Carlo error of a mean from ESS independent draws: posterior sd / sqrt(ESS);
    # tau's posterior sd is about 3.2 and mu's 3.3 here.
    tolerance = 4 * 3.3 / np.sqrt(result.importance_ess)
    assert result.draws["tau"].mean() == pytest.approx(tau_mean, abs=tolerance)
    assert result.draws["mu"].mean() == pytest.approx(mu_mean, abs=tolerance)


def test_the_mixture_density_integrates_to_one():
    # One hyperparameter and one other parameter: the density is integrated on a fine grid.
    with pm.Model() as model:
        scale = pm.HalfNormal("scale", 1.0)
        effect = pm.Normal("effect", 0.0, scale)
        pm.Normal("y", effect, 1.0, observed=[0.8, 1.1, 0.4])
    point = model.initial_point()
    start = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    mixture, _ = nested_mixture(model, hyper_blocks(model, ["scale"]), local=None,
                                start=start, point=point,
                                functions=density_functions(model, point))
    assert mixture.points >= 5
    # Spacing 0.01: where the scale is small the effect's conditional sd is too.
    axis = np.linspace(-10.0, 10.0, 2001)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    density = np.exp(mixture.log_density(grid))
    assert density.sum() * (axis[1] - axis[0]) ** 2 == pytest.approx(1.0, abs=1e-3)
    # Its draws follow it: the mean of the draws against the grid mean.
    draws = mixture.draw(np.random.default_rng(0), 20_000)
    grid_mean = (density[:, None] * grid).sum(axis=0) / density.sum()
    np.testing.assert_allclose(draws.mean(axis=0), grid_mean, atol=0.05)


def test_the_mixture_s_hyperparameter_marginal_is_the_exact_one():
    # The effect is exactly Gaussian given the scale, so the Laplace marginal of the log scale
    # is exact; the lattice's cells widen away from the mode, and the mixture keeps the
    # marginal only if each point is weighted by its cell's volume.
    y = np.array([0.8, 1.1, 0.4])
    with pm.Model() as model:
        scale = pm.HalfNormal("scale", 1.0)
        effect = pm.Normal("effect", 0.0, scale)
        pm.Normal("y", effect, 1.0, observed=y)
    point = model.initial_point()
    start = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
    blocks = hyper_blocks(model, ["scale"])
    mixture, _ = nested_mixture(model, blocks, local=None, start=start, point=point,
                                functions=density_functions(model, point))
    log_scale = np.linspace(-15.0, 4.0, 20_001)
    exact = np.exp(stats.halfnorm.logpdf(np.exp(log_scale)) + log_scale
                   + stats.norm.logpdf(y.mean(), 0.0, np.sqrt(np.exp(2 * log_scale) + 1 / 3)))
    exact /= exact.sum()
    axis = np.linspace(-10.0, 10.0, 2001)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    density = np.exp(mixture.log_density(grid))
    density /= density.sum()
    theta = grid[:, blocks.theta.ravel()[0]]
    exact_mean = float(exact @ log_scale)
    exact_sd = float(np.sqrt(exact @ (log_scale - exact_mean) ** 2))
    mixture_mean = float(density @ theta)
    mixture_sd = float(np.sqrt(density @ (theta - mixture_mean) ** 2))
    assert mixture_mean == pytest.approx(exact_mean, abs=0.1 * exact_sd)
    assert mixture_sd == pytest.approx(exact_sd, rel=0.15)


def test_the_same_seed_gives_the_same_draws_and_another_seed_others():
    model = eight_schools()
    kwargs = {"draws": 200, "chains": 1, "hyper": ("tau",)}
    first = nested_laplace_fit(model, random_seed=5, **kwargs)
    again = nested_laplace_fit(model, random_seed=5, **kwargs)
    other = nested_laplace_fit(model, random_seed=6, **kwargs)
    np.testing.assert_array_equal(first.draws["theta"], again.draws["theta"])
    assert first.pareto_k == again.pareto_k
    assert not np.array_equal(first.draws["theta"], other.draws["theta"])


@pytest.mark.parametrize(("correlated", "expected"), [(False, (2, 3)), (True, (1, 7))])
def test_area_hyperparameters_get_one_lattice_per_service_unless_services_share(correlated,
                                                                                 expected):
    data = generate_area("tiny", random_seed=0, services=("cin", "cla")).data
    area = AreaDemandModel(data, {"correlated_la": correlated})
    model = area.build_model()
    blocks = hyper_blocks(model, area.HYPER, area.BLOCK_DIM)
    assert blocks.theta.shape == expected
    size = sum(int(np.size(v)) for v in model.initial_point().values())
    covered = np.concatenate([blocks.theta.ravel(), *blocks.rest])
    np.testing.assert_array_equal(np.sort(covered), np.arange(size))
    if correlated:   # 7 hyperparameters in one block: no lattice
        with pytest.raises(ApproximationError, match="too many"):
            nested_laplace_fit(model, random_seed=1, draws=10, chains=1, hyper=area.HYPER,
                               block_spec=BlockSpec(area.BLOCK_DIM, area.observed_blocks()))


class EightSchools(FittableModel):
    """Eight schools as one of our models: ``tau`` declared a hyperparameter."""

    KIND = "eight_schools"
    MONITORED = ("mu", "tau")
    HYPER = ("tau",)

    def build_model(self) -> pm.Model:
        self.model = eight_schools()
        return self.model

    def data_hash(self) -> str:
        return "eight-schools"

    def stored_config(self) -> dict:
        return {}


def convergence_record(idata) -> dict:
    return json.loads(idata_io.posterior(idata).attrs[CONVERGENCE_ATTR])


def test_a_fit_records_that_the_nested_approximation_made_it():
    idata = EightSchools().fit(random_seed=3, draws=300, chains=2, method="laplace")
    record = convergence_record(idata)
    assert record["variant"] == "nested" and record["hyper_points"] >= 5
    assert record["pareto_k"] <= 0.7
    assert idata_io.get_config(idata)["run"]["variant"] == "nested"
    assert describe_method(record).startswith(
        f"laplace (approximate, nested over {record['hyper_points']} "
        "hyperparameter points; PSIS k̂ = ")
