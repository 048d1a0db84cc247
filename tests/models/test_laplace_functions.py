"""The Laplace path's compiled functions: the model's own log density, kept per graph."""

from __future__ import annotations

import numpy as np
import pytest
from pymc.blocking import DictToArrayBijection

from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.laplace_functions import (
    BlockSpec,
    density_functions,
    log_density_function,
)
from bayes_needs.simulate.area import generate_area


def _area(data_seed: int = 0) -> AreaDemandModel:
    return AreaDemandModel(generate_area("tiny", random_seed=data_seed,
                                         services=("cin", "cla")).data)


def _points(model, n: int, seed: int) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    point = model.initial_point()
    raveled = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars})
    rows = raveled.data + np.random.default_rng(seed).normal(0.0, 0.3, (n, raveled.data.size))
    return rows, [DictToArrayBijection.rmap(raveled._replace(data=row)) for row in rows]


def test_the_log_density_of_many_draws_is_pymcs_log_density_of_each():
    model = _area().build_model()
    rows, points = _points(model, 5, seed=1)
    functions = density_functions(model, model.initial_point())
    reference = model.compile_logp()
    log_density, outputs = functions.evaluate(rows)
    expected = np.array([reference(point) for point in points])
    np.testing.assert_allclose(log_density, expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(functions.log_density(rows), expected, rtol=0, atol=1e-8)
    assert functions.log_density(rows[2]) == pytest.approx(expected[2], abs=1e-8)
    on_its_own = log_density_function(model, model.initial_point())
    assert on_its_own(rows[3]) == pytest.approx(expected[3], abs=1e-8)
    # The outputs are the constrained values: sigma_la is exp of its log-transformed value.
    np.testing.assert_allclose(outputs["sigma_la"],
                               np.exp([point["sigma_la_log__"] for point in points]))


@pytest.mark.parametrize("correlated", [False, True])
def test_the_area_model_s_log_density_splits_into_one_term_per_service(correlated):
    area = AreaDemandModel(generate_area("tiny", random_seed=0, services=("cin", "cla")).data,
                           {"correlated_la": correlated})
    model = area.build_model()
    functions = density_functions(model, model.initial_point(),
                                  block_spec=BlockSpec(area.BLOCK_DIM, area.observed_blocks()))
    rows, points = _points(model, 3, seed=2)
    block_density, _ = functions.evaluate_blocks(rows)
    reference = model.compile_logp()
    np.testing.assert_allclose(block_density.sum(axis=1), [reference(p) for p in points],
                               rtol=0, atol=1e-8)
    if correlated:  # the LKJ factor ties the services: one block
        assert functions.blocks.count == 1 and block_density.shape == (3, 1)
        return
    assert functions.blocks.count == 2
    assert functions.blocks.output_axes["la_effect"] == 1
    np.testing.assert_array_equal(np.sort(np.concatenate(functions.blocks.index)),
                                  np.arange(rows.shape[1]))
    # Moving the second service's parameters leaves the first service's term as it was.
    moved = rows.copy()
    moved[:, functions.blocks.index[1]] += 0.2
    moved_density, _ = functions.evaluate_blocks(moved)
    np.testing.assert_allclose(moved_density[:, 0], block_density[:, 0], rtol=0, atol=1e-10)
    assert np.all(np.abs(moved_density[:, 1] - block_density[:, 1]) > 1e-6)


def test_models_with_the_same_graph_key_share_compiled_functions():
    first, second, other = _area(0), _area(0), _area(1)
    assert first.graph_key() == second.graph_key() != other.graph_key()
    shared = density_functions(first.build_model(), first.built_model().initial_point(),
                               first.graph_key())
    again = density_functions(second.build_model(), second.built_model().initial_point(),
                              second.graph_key())
    assert again is shared
    assert density_functions(other.build_model(), other.built_model().initial_point(),
                             other.graph_key()) is not shared
    uncached = density_functions(first.built_model(), first.built_model().initial_point())
    assert uncached is not shared
