"""Sparse and dense constant-matrix products: against scipy's sparse products, in every backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.sparse as ps
import pytensor.tensor as pt
import pytest
import scipy.sparse as sp
from pytensor.gradient import verify_grad

from bayes_needs.models.sparse_kernels import (
    DenseProduct,
    SparseProduct,
    dense_product,
    gather,
    matrix_product,
    sparse_product,
)


def _triplets(rng: np.random.Generator, n_rows: int = 9, n_cols: int = 4, nnz: int = 14):
    """Random triplets with repeated (row, column) pairs and an empty row, sorted by row."""
    rows = np.sort(rng.choice(np.r_[0:3, 4:n_rows], nnz))  # row 3 stays empty
    cols = rng.integers(0, n_cols, nnz)
    return rows, cols, rng.uniform(0.5, 3.0, nnz), n_rows, n_cols


def _structured_dot_reference(values, rows, cols, weights, n_rows, n_cols):
    """The formulation the person model used before: ``pytensor.sparse.structured_dot``."""
    matrix = ps.as_sparse_variable(sp.csr_matrix((weights, (rows, cols)),
                                                 shape=(n_rows, n_cols)))
    if values.ndim == 1:
        return ps.structured_dot(matrix, values[:, None])[:, 0]
    return ps.structured_dot(matrix, values)


@pytest.mark.parametrize("ncol", [None, 3])
def test_sparse_product_matches_structured_dot_in_value_and_gradient(ncol):
    rng = np.random.default_rng(0)
    rows, cols, weights, n_rows, n_cols = _triplets(rng)
    values = pt.dmatrix("v")
    data = rng.normal(size=(n_cols, ncol or 1))
    scale = rng.normal(size=(n_rows, ncol or 1))
    outputs = {}
    for name, product in (("new", sparse_product), ("old", _structured_dot_reference)):
        v = values[:, 0] if ncol is None else values
        out = product(v, rows, cols, weights, n_rows, n_cols)
        loss = (pt.exp(out / 4.0) * (scale[:, 0] if ncol is None else scale)).sum()
        outputs[name] = pytensor.function([values], [out, pytensor.grad(loss, values)])(data)
    for new, old in zip(outputs["new"], outputs["old"], strict=True):
        np.testing.assert_allclose(new, np.asarray(old).reshape(new.shape), rtol=1e-13)
    assert np.all(outputs["new"][0][3] == 0.0)
    verify_grad(lambda v: SparseProduct(n_rows, n_cols)(v, pt.as_tensor(rows),
                                                       pt.as_tensor(cols),
                                                       pt.as_tensor(weights)), [data], rng=rng)


def test_gather_is_indexing_and_its_gradient_a_scatter_add():
    rng = np.random.default_rng(1)
    index = np.array([2, 0, 2, 2, 4, 1])
    values = pt.dmatrix("v")
    weight = rng.normal(size=(len(index), 2))
    out = gather(values, index, 5)
    data = rng.normal(size=(5, 2))
    got, grad = pytensor.function([values], [out, pytensor.grad((out * weight).sum(), values)])(
        data)
    expected_grad = np.zeros((5, 2))
    np.add.at(expected_grad, index, weight)
    np.testing.assert_array_equal(got, data[index])
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14)
    assert np.all(grad[3] == 0.0)


def test_dense_product_matches_numpy_with_gradient():
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(40, 7))
    data = rng.normal(size=(7, 3))
    np.testing.assert_allclose(dense_product(pt.as_tensor(data), matrix).eval(), matrix @ data,
                               rtol=1e-12)
    verify_grad(lambda v: DenseProduct()(v, pt.as_tensor(matrix),
                                         pt.as_tensor(np.ascontiguousarray(matrix.T))),
                [data], rng=rng)


@pytest.mark.parametrize("nnz", [6, 30])  # sparse (6 of 36 entries) and dense (30 of 36)
def test_matrix_product_is_the_same_product_dense_or_sparse(nnz):
    rng = np.random.default_rng(3)
    rows, cols, weights, n_rows, n_cols = _triplets(rng, n_rows=9, n_cols=4, nnz=nnz)
    values = pt.dmatrix("v")
    out = matrix_product(pt.exp(values), rows, cols, weights, n_rows, n_cols)
    kinds = {type(node.op) for node in pytensor.graph.traversal.ancestors([out])
             if node.owner is not None for node in [node.owner]}
    assert (DenseProduct in kinds) == (nnz >= 0.25 * n_rows * n_cols)
    reference = _structured_dot_reference(pt.exp(values), rows, cols, weights, n_rows, n_cols)
    data = rng.normal(size=(n_cols, 2))
    grads = [pytensor.grad(pt.log(o + 1.0).sum(), values) for o in (out, reference)]
    got, expected = (pytensor.function([values], [o, g])(data)
                     for o, g in zip((out, reference), grads, strict=True))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_products_reject_wrong_inputs():
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 3\)"):
        sparse_product(pt.dvector(), np.array([0, 3]), np.array([0, 1]), None, 3, 2)
    with pytest.raises(ValueError, match="same length"):
        sparse_product(pt.dvector(), np.array([0]), np.array([0, 1]), None, 3, 2)
    with pytest.raises(TypeError, match="integers"):
        SparseProduct(2, 2)(pt.dvector(), pt.dvector(), pt.lvector(), pt.dvector())
    with pytest.raises(ValueError, match="expected 2"):
        sparse_product(pt.dvector("v"), np.array([0]), np.array([1]), None, 1, 2).eval(
            {"v": np.ones(3)})
    with pytest.raises(TypeError, match="2-d"):
        DenseProduct()(pt.dvector(), pt.dmatrix(), pt.dmatrix())


@pytest.mark.parametrize("backend", ["NUMBA", "JAX"])
def test_other_backends_agree_with_the_default(backend):
    if backend == "JAX":
        pytest.importorskip("jax")
    rng = np.random.default_rng(4)
    rows, cols, weights, n_rows, n_cols = _triplets(rng)
    matrix = rng.normal(size=(6, n_cols))
    values, vector = pt.dmatrix("values"), pt.dvector("vector")
    logp = (pt.log(sparse_product(pt.exp(values), rows, cols, weights, n_rows, n_cols)
                   + 1.0).sum()
            + pt.sqr(sparse_product(vector, rows, cols, weights, n_rows, n_cols)).sum()
            + pt.sin(dense_product(values, matrix)).sum()
            + pt.sqr(gather(values, np.array([3, 0, 0]), n_cols)).sum())
    outputs = [logp, *pytensor.grad(logp, [values, vector])]
    data = (rng.normal(size=(n_cols, 2)), rng.normal(size=n_cols))
    expected = pytensor.function([values, vector], outputs)(*data)
    with warnings.catch_warnings():  # an Op without its own implementation warns (object mode)
        warnings.simplefilter("error")
        got = pytensor.function([values, vector], outputs, mode=backend)(*data)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10)
