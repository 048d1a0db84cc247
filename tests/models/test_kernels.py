"""Compiled likelihood Ops: values and gradients in the C, numba and JAX backends."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import NullTypeGradError, verify_grad
from scipy import special

from bayes_needs.models.kernels import (
    LogRisingFactorial,
    SegmentSum,
    log_rising_factorial_vector,
    segment_sum,
)

SEGMENTS = np.array([0, 0, 1, 3, 3, 3, 1])  # unsorted, with an empty segment (2)


def _numpy_segment_sum(values: np.ndarray) -> np.ndarray:
    out = np.zeros((4, *values.shape[1:]))
    np.add.at(out, SEGMENTS, values)
    return out


@pytest.mark.parametrize("shape", [(7,), (7, 3)])
def test_segment_sum_matches_numpy_with_gradient(shape):
    rng = np.random.default_rng(0)
    values = rng.normal(size=shape)
    got = segment_sum(pt.as_tensor(values), SEGMENTS, 4).eval()
    np.testing.assert_allclose(got, _numpy_segment_sum(values), rtol=1e-14)
    verify_grad(lambda v: SegmentSum(4)(v, pt.as_tensor(SEGMENTS)), [values], rng=rng)


def test_segment_sum_reads_strided_values_and_checks_runtime_ids():
    values = pt.dmatrix("values")
    ids = pt.lvector("ids")
    # A transposed and a sliced input: the C loop must follow the strides.
    fn = pytensor.function([values, ids], [SegmentSum(4)(values.T, ids),
                                           SegmentSum(4)(values[0, ::2], ids[:4])])
    data = np.random.default_rng(3).normal(size=(3, 7))
    by_rows, sliced = fn(data, SEGMENTS)
    np.testing.assert_allclose(by_rows, _numpy_segment_sum(data.T), rtol=1e-14)
    expected = np.zeros(4)
    np.add.at(expected, SEGMENTS[:4], data[0, ::2])
    np.testing.assert_allclose(sliced, expected, rtol=1e-14)
    with pytest.raises(IndexError, match="out of range"):
        fn(data, np.array([0, 1, 2, 3, 4, 0, 1]))
    with pytest.raises(ValueError, match="differ in length"):
        fn(data, SEGMENTS[:6])


def test_log_rising_factorial_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    counts = np.array([0, 1, 3, 20, 64, 65, 300])
    verify_grad(lambda b: log_rising_factorial_vector(b, counts), [rng.uniform(0.1, 9, 7)],
                rng=rng)


def test_log_rising_factorial_at_a_zero_base_is_infinite_not_an_error():
    # A sampler's trajectory can underflow a rate to 0; the logp must say -inf, not raise.
    base = pt.dvector("base")
    value = log_rising_factorial_vector(base, np.array([0, 3, 70]))
    logp, grad = pytensor.function([base], [value.sum(), pytensor.grad(value.sum(), base)])(
        np.array([0.0, 0.0, 0.0]))
    assert logp == -np.inf and np.all(np.isinf(grad[1:])) and grad[0] == 0.0


def test_log_rising_factorial_second_derivative_is_refused():
    base = pt.dvector("base")
    first = pytensor.grad(log_rising_factorial_vector(base, np.array([2, 3])).sum(), base)
    with pytest.raises(NullTypeGradError, match="second derivative"):
        pytensor.grad(first.sum(), base)


def test_ops_reject_wrong_input_kinds():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        segment_sum(pt.dvector(), np.array([0, 4]), 4)
    with pytest.raises(ValueError, match=">= 0"):
        log_rising_factorial_vector(pt.dvector(), np.array([1, -1]))
    with pytest.raises(ValueError, match="shape"):
        log_rising_factorial_vector(pt.dvector("b"), np.array([1, 2])).eval(
            {"b": np.ones(3)})
    with pytest.raises(TypeError, match="integers"):
        SegmentSum(2)(pt.dvector(), pt.dvector())
    with pytest.raises(TypeError, match="1-d"):
        LogRisingFactorial()(pt.dmatrix(), pt.lvector(), pt.lvector(), pt.lvector())


@pytest.mark.parametrize("backend", ["NUMBA", "JAX"])
def test_other_backends_agree_with_the_default(backend):
    if backend == "JAX":
        pytest.importorskip("jax")
    rng = np.random.default_rng(2)
    counts = np.array([0, 2, 5, 70, 1, 3, 9])
    base = pt.dvector("base")
    rates = pt.dmatrix("rates")
    # 1-d and 2-d segment sums over the same segments: different loops, same Op props.
    logp = (log_rising_factorial_vector(base, counts).sum()
            + pt.log(segment_sum(rates, SEGMENTS, 4) + 1.0).sum()
            + pt.sqr(segment_sum(base, SEGMENTS, 4)).sum())
    outputs = [logp, *pytensor.grad(logp, [base, rates])]
    values = (rng.uniform(0.2, 30.0, 7), rng.uniform(0.1, 2.0, (7, 2)))
    expected = pytensor.function([base, rates], outputs)(*values)
    got = pytensor.function([base, rates], outputs, mode=backend)(*values)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10)
    np.testing.assert_allclose(
        expected[1], special.digamma(values[0] + counts) - special.digamma(values[0])
        + 2.0 * _numpy_segment_sum(values[0])[SEGMENTS], rtol=1e-9, atol=1e-12)

