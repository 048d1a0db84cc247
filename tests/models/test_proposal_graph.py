"""The proposal graph's rewrites: NumPy's exp for large exps, within its error bound, and
small covariate products as sums, with the same values."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.math import Dot

from bayes_needs.models.kernels import LogRisingFactorial, rising_factorial_plan
from bayes_needs.models.proposal_graph import (
    RELATIVE_ERROR,
    LogRisingFactorialValue,
    VectorExp,
    with_products_as_sums,
    with_value_only_rising_factorials,
    with_vector_exp,
)


def test_vector_exp_replaces_only_large_exps_and_keeps_values_and_gradients():
    x = pt.dvector("x")
    big = pt.as_tensor(np.linspace(-3.0, 3.0, 5000))
    small = pt.as_tensor(np.linspace(-1.0, 1.0, 10))
    logp = (pt.exp(big * x[0]) * 2.0).sum() + pt.exp(small * x[1]).sum() + pt.exp(x).sum()
    (rewritten,) = with_vector_exp([logp], min_size=4096)
    ops = [type(node.op) for node in pytensor.graph.traversal.applys_between([x], [rewritten])]
    assert ops.count(VectorExp) == 1  # the exp of 5,000 elements; not 10, nor unknown size
    value = np.array([0.3, -0.7])
    expected = pytensor.function([x], [logp, pytensor.grad(logp, x)])(value)
    got = pytensor.function([x], [rewritten, pytensor.grad(rewritten, x)])(value)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=RELATIVE_ERROR)
    np.testing.assert_allclose(
        pytensor.function([x], VectorExp()(x), mode="NUMBA")(value), np.exp(value), rtol=1e-15)


def test_vector_exp_is_within_its_bound_and_exact_where_single_precision_is_not_normal():
    x = pt.dvector("x")
    exp = pytensor.function([x], VectorExp()(x))
    rng = np.random.default_rng(7)
    inside = np.concatenate([np.linspace(-87.3, 88.7, 100_001), rng.normal(0, 5, 100_000)])
    got = exp(inside)
    assert got.dtype == np.float64
    error = np.abs(got / np.exp(inside) - 1)
    assert error.max() < RELATIVE_ERROR
    assert error.max() > 1e-9  # single precision was used
    # One element beyond single precision's range: the whole vector in double precision.
    for beyond in (100.0, -100.0):
        values = np.append(inside[:1000], beyond)
        np.testing.assert_allclose(exp(values), np.exp(values), rtol=1e-15)


def test_products_with_few_constant_columns_become_sums_with_the_same_values():
    rng = np.random.default_rng(3)
    beta = pt.dvector("beta")
    narrow, wide = rng.normal(size=(50, 3)), rng.normal(size=(50, 9))
    free = pt.dmatrix("free")
    outputs = [pt.exp(pt.dot(narrow, beta)).sum() + pt.dot(wide, pt.tile(beta, 3)).sum()
               + pt.dot(free, beta).sum()]
    rewritten = with_products_as_sums(outputs, max_columns=8)
    dots = [node for node in pytensor.graph.traversal.applys_between([beta, free], rewritten)
            if isinstance(node.op, Dot)]
    assert len(dots) == 2  # the 9-column constant and the variable matrix stay products
    value, matrix = np.array([0.2, -0.4, 0.1]), rng.normal(size=(4, 3))
    expected = pytensor.function([beta, free], outputs)(value, matrix)
    got = pytensor.function([beta, free], rewritten)(value, matrix)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_value_only_rising_factorials_equal_the_sampler_kernel_s_values():
    rng = np.random.default_rng(11)
    # Small and large counts (the batched loop and lgamma), zeros, and bases from tiny to
    # beyond the batched loop's range (the one-by-one product), some not finite.
    counts = np.concatenate([rng.poisson(3.0, 400), rng.integers(65, 500, 20), [0, 0, 7, 7]])
    base = np.concatenate([rng.gamma(0.5, 2.0, 420), [1e-8, 0.3, 1e30, 2.5]])
    base[[5, 9]] = [np.nan, 0.0]
    order, active = rising_factorial_plan(counts)
    x = pt.dvector("x")
    value, _ = LogRisingFactorial()(x, counts, order, active)
    (rewritten,) = with_value_only_rising_factorials([value])
    ops = {type(n.op) for n in pytensor.graph.traversal.applys_between([x], [rewritten])}
    assert LogRisingFactorialValue in ops and LogRisingFactorial not in ops
    expected = pytensor.function([x], value)(base)
    for mode in (None, "NUMBA"):  # the C code, and perform in a backend without C
        got = pytensor.function([x], rewritten, mode=mode)(base)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13, equal_nan=True)
        assert np.isnan(got[5]) and got[9] == -np.inf
        assert np.all(got[counts == 0] == 0.0)
