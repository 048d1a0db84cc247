"""The one NUTS call: default sampler and settings from core/defaults.py, nutpie's seeds,
start values and interrupts (real sampling of a one-parameter model: seconds)."""

from __future__ import annotations

import inspect
import os
import signal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from bayes_needs.config.run import SamplingSpec
from bayes_needs.core import defaults
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.interrupts import RunInterrupted
from bayes_needs.models.base import FittableModel
from bayes_needs.models.sampling import check_sampling_arguments, sample_nuts
from bayes_needs.workflows.comparison import ComparisonSettings


def one_normal() -> pm.Model:
    with pm.Model() as model:
        pm.Normal("x", 1.0, 2.0)
    return model


def test_every_entry_point_takes_the_sampling_defaults_from_core_defaults():
    spec = SamplingSpec()
    assert (spec.sampler, spec.draws, spec.tune, spec.chains) == (
        defaults.SAMPLER, defaults.DRAWS, defaults.TUNE, defaults.CHAINS)
    fit = inspect.signature(FittableModel.fit).parameters
    assert {k: fit[k].default for k in ("sampler", "draws", "tune", "chains")} == {
        "sampler": defaults.SAMPLER, "draws": defaults.DRAWS, "tune": defaults.TUNE,
        "chains": defaults.CHAINS}
    assert inspect.signature(sample_nuts).parameters["sampler"].default == defaults.SAMPLER
    assert ComparisonSettings().sampler == defaults.SAMPLER


def test_the_default_sampler_is_installed_with_the_package():
    check_sampling_arguments(draws=1, tune=1, chains=1, sampler=defaults.SAMPLER)
    with pytest.raises(ConfigError, match="sampler must be one of"):
        check_sampling_arguments(draws=1, tune=1, chains=1, sampler="stan")


def test_nutpie_draws_are_reproducible_from_the_seed():
    model = one_normal()
    kwargs = {"draws": 50, "tune": 50, "chains": 2, "sampler": "nutpie"}
    first = sample_nuts(model, random_seed=3, **kwargs).posterior["x"].values
    again = sample_nuts(model, random_seed=3, **kwargs).posterior["x"].values
    other = sample_nuts(model, random_seed=4, **kwargs).posterior["x"].values
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.shape == (2, 50)


class _FirstValue(Op):
    """Identity that records the first value it is evaluated at (a chain's start)."""

    __props__ = ()

    def __init__(self):
        self.first: float | None = None

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        if self.first is None:
            self.first = float(inputs[0])
        output_storage[0][0] = np.array(inputs[0], copy=True)

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_chains_start_at_the_start_values_and_the_model_keeps_its_own(sampler):
    first = _FirstValue()
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 10.0)
        # Its small weight keeps it in the graph (a product with 0 would be rewritten away).
        pm.Potential("start", first(x) * 1e-9)
    sample_nuts(model, random_seed=1, draws=5, tune=5, chains=1, cores=1, sampler=sampler,
                initvals={"x": np.array(30.0)})
    assert first.first is not None and abs(first.first - 30.0) <= 1.0  # jittered by U(-1, 1)
    assert float(model.initial_point()["x"]) == 0.0


class _InterruptAfter(Op):
    """Identity that sends this process SIGINT at its ``calls``-th evaluation."""

    __props__ = ("calls",)

    def __init__(self, calls: int):
        self.calls = calls
        self.seen = 0

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        self.seen += 1
        if self.seen == self.calls:
            os.kill(os.getpid(), signal.SIGINT)
        output_storage[0][0] = np.array(inputs[0], copy=True)

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_an_interrupt_propagates_instead_of_a_truncated_posterior(sampler):
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0)
        pm.Potential("watch", _InterruptAfter(200)(x) * 1e-9)
    with pytest.raises(RunInterrupted, match="sampling was interrupted"):
        sample_nuts(model, random_seed=1, draws=200_000, tune=100, chains=1, cores=1,
                    sampler=sampler)
