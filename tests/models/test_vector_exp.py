"""NumPy's exp as an Op: swapped in for large exps only, same values and gradients."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from bayes_needs.models.vector_exp import VectorExp, with_vector_exp


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
        np.testing.assert_allclose(g, e, rtol=1e-13)
    np.testing.assert_allclose(
        pytensor.function([x], VectorExp()(x), mode="NUMBA")(value), np.exp(value), rtol=1e-15)
