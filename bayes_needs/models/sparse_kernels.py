"""A compiled sparse product for the person model: cell sums, gathers and their gradients.

:class:`SparseProduct` multiplies a constant sparse matrix, given as ``(row, column, weight)``
triplets, by a tensor of values: ``out[rows[i]] += weights[i] * values[cols[i]]``. Its
gradient is the same Op on the transposed triplets. One Op covers what the person model needs
over its collapsed cells:

* the (LSOA x pattern) exposure product ``sum_p E_kp exp(x_p gamma)``;
* gathers ``values[index]`` (weights 1), whose gradient is a scatter-add (PyTensor's own
  ``AdvancedIncSubtensor1`` runs ``numpy.add.at`` in Python);
* weighted sums of cells into LAs.

It replaces ``pytensor.sparse.structured_dot`` with sparse constants, which with PyMC's
sampler runs in Python-called C and is slower than this loop. Like the Ops of
:mod:`bayes_needs.models.kernels`, the loop is compiled with numba for ``perform`` and the
numba backend (nutpie), with a ``jax`` equivalent for numpyro.
"""

from __future__ import annotations

import importlib.util

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from pytensor.tensor.type import integer_dtypes


@numba.njit(cache=True, error_model="numpy")
def _sparse_product_1d(values, rows, cols, weights, n_rows):
    out = np.zeros(n_rows, dtype=values.dtype)
    for i in range(rows.shape[0]):
        out[rows[i]] += weights[i] * values[cols[i]]
    return out


@numba.njit(cache=True, error_model="numpy")
def _sparse_product_2d(values, rows, cols, weights, n_rows):
    out = np.zeros((n_rows, values.shape[1]), dtype=values.dtype)
    for i in range(rows.shape[0]):
        r, c, w = rows[i], cols[i], weights[i]
        for k in range(values.shape[1]):
            out[r, k] += w * values[c, k]
    return out


class SparseProduct(Op):
    """``M @ values`` for a constant sparse ``(n_rows, n_cols)`` matrix ``M`` in triplets.

    Inputs are ``values`` (1-d or 2-d, ``n_cols`` rows) and the triplets ``rows``, ``cols``
    (integers) and ``weights``; only ``values`` is differentiated. The gradient is
    ``M.T @ output_gradient``, the same Op with rows and columns swapped.
    """

    __props__ = ("n_rows", "n_cols")

    def __init__(self, n_rows: int, n_cols: int):
        self.n_rows, self.n_cols = int(n_rows), int(n_cols)

    def make_node(self, values, rows, cols, weights):
        """Check the inputs and describe the output (``n_rows`` rows)."""
        values = pt.as_tensor_variable(values)
        rows, cols = pt.as_tensor_variable(rows), pt.as_tensor_variable(cols)
        weights = pt.as_tensor_variable(weights).astype(values.dtype)
        if values.ndim not in (1, 2) or rows.ndim != 1 or cols.ndim != 1 or weights.ndim != 1:
            raise TypeError("SparseProduct needs 1-d or 2-d values and 1-d triplets")
        if rows.dtype not in integer_dtypes or cols.dtype not in integer_dtypes:
            raise TypeError("rows and cols must be integers")
        out = pt.tensor(dtype=values.dtype, shape=(self.n_rows, *values.type.shape[1:]))
        return Apply(self, [values, rows, cols, weights], [out])

    def perform(self, node, inputs, output_storage):
        """Multiply with the compiled loop."""
        values, rows, cols, weights = inputs
        if values.shape[0] != self.n_cols:  # the compiled loop does not check bounds
            raise ValueError(f"values have {values.shape[0]} rows, expected {self.n_cols}")
        kernel = _sparse_product_1d if values.ndim == 1 else _sparse_product_2d
        output_storage[0][0] = kernel(values, rows, cols, weights, self.n_rows)

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the output shape without multiplying."""
        return [(self.n_rows, *input_shapes[0][1:])]

    def connection_pattern(self, node):
        """Declare the output differentiable in ``values`` only."""
        return [[True], [False], [False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        """Return the gradient: the transposed product of the output gradient."""
        _, rows, cols, weights = inputs
        transposed = SparseProduct(self.n_cols, self.n_rows)(output_grads[0], cols, rows,
                                                             weights)
        return [transposed, DisconnectedType()(), DisconnectedType()(), DisconnectedType()()]


def sparse_product(values, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | None,
                   n_rows: int, n_cols: int):
    """Tensor ``M @ values`` with ``M[rows[i], cols[i]] += weights[i]`` (``None``: ones).

    The triplets are data, checked here because the compiled loop does not check bounds.
    Sorting them by row keeps the forward loop's writes sequential.
    """
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    weights = np.ones(len(rows)) if weights is None else np.asarray(weights, float)
    if not len(rows) == len(cols) == len(weights):
        raise ValueError("rows, cols and weights must have the same length")
    for name, index, bound in (("rows", rows, n_rows), ("cols", cols, n_cols)):
        if len(index) and (index.min() < 0 or index.max() >= bound):
            raise ValueError(f"{name} must lie in [0, {bound})")
    return SparseProduct(n_rows, n_cols)(values, pt.as_tensor(rows), pt.as_tensor(cols),
                                         pt.as_tensor(weights))


def gather(values, index: np.ndarray, n_source: int):
    """Tensor ``values[index]`` (rows of an ``n_source``-row tensor); gradient a scatter-add."""
    index = np.asarray(index, np.int64)
    return sparse_product(values, np.arange(len(index)), index, None, len(index), n_source)


# Reassociation lets the dot products vectorise; no assumption about inf or NaN is made.
@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dense_product(matrix, values):
    values_t = np.ascontiguousarray(values.T)
    out = np.empty((matrix.shape[0], values.shape[1]), dtype=values.dtype)
    for r in range(matrix.shape[0]):
        for k in range(values_t.shape[0]):
            total = 0.0
            for j in range(matrix.shape[1]):
                total += matrix[r, j] * values_t[k, j]
            out[r, k] = total
    return out


class DenseProduct(Op):
    """``matrix @ values`` for a constant dense ``matrix`` with a compiled loop.

    Inputs are ``values`` (2-d), the matrix and its transpose (both C-contiguous constants),
    so the gradient, ``matrix.T @ output_gradient``, is the same Op with the two swapped.
    PyTensor's own ``Dot`` without a BLAS library runs a naive C loop, about 100 times slower;
    ``numpy.dot`` is as fast as this loop on one thread, but its multithreaded BLAS slows
    down many times over when the cores are busy (parallel chains, a shared machine).
    """

    __props__ = ()

    def make_node(self, values, matrix, matrix_t):
        """Check the inputs and describe the output."""
        values = pt.as_tensor_variable(values)
        matrix, matrix_t = pt.as_tensor_variable(matrix), pt.as_tensor_variable(matrix_t)
        if values.ndim != 2 or matrix.ndim != 2 or matrix_t.ndim != 2:
            raise TypeError("DenseProduct needs 2-d values and matrices")
        out = pt.tensor(dtype=values.dtype, shape=(matrix.type.shape[0], values.type.shape[1]))
        return Apply(self, [values, matrix, matrix_t], [out])

    def perform(self, node, inputs, output_storage):
        """Multiply with the compiled loop."""
        values, matrix, _ = inputs
        if values.shape[0] != matrix.shape[1]:  # the compiled loop does not check bounds
            raise ValueError(f"values have {values.shape[0]} rows, expected {matrix.shape[1]}")
        output_storage[0][0] = _dense_product(matrix, values)

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the output shape without multiplying."""
        return [(input_shapes[1][0], input_shapes[0][1])]

    def connection_pattern(self, node):
        """Declare the output differentiable in ``values`` only."""
        return [[True], [False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        """Return the gradient: the transposed matrix times the output gradient."""
        _, matrix, matrix_t = inputs
        return [DenseProduct()(output_grads[0], matrix_t, matrix), DisconnectedType()(),
                DisconnectedType()()]


def dense_product(values, matrix: np.ndarray):
    """Tensor ``matrix @ values`` for a constant 2-d ``matrix`` (see :class:`DenseProduct`)."""
    matrix = np.ascontiguousarray(matrix, dtype=float)
    return DenseProduct()(values, pt.as_tensor(matrix),
                          pt.as_tensor(np.ascontiguousarray(matrix.T)))


#: Above this share of non-zero entries a constant matrix is multiplied dense (the dense loop
#: reads 8 bytes per entry and vectorises; the sparse loop reads 24 per non-zero).
DENSE_ABOVE = 0.25


def matrix_product(values, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                   n_rows: int, n_cols: int):
    """``M @ values`` for ``M`` given as triplets: dense if it is mostly full, else sparse.

    Collapsed child records fill most (LSOA, pattern) cells when patterns are few, and then
    the dense product is several times faster.
    """
    if len(rows) >= DENSE_ABOVE * n_rows * n_cols:
        matrix = np.zeros((n_rows, n_cols))
        np.add.at(matrix, (np.asarray(rows), np.asarray(cols)), np.asarray(weights, float))
        return dense_product(values, matrix)
    return sparse_product(values, rows, cols, weights, n_rows, n_cols)


# ---------------------------------------------------------------------- other backends
@register_funcify_default_op_cache_key(SparseProduct)
def _numba_sparse_product(op, node, **kwargs):
    n_rows = op.n_rows
    kernel = _sparse_product_1d if node.inputs[0].ndim == 1 else _sparse_product_2d

    @numba.njit
    def sparse_product_numba(values, rows, cols, weights):
        return kernel(values, rows, cols, weights, n_rows)

    # The loop depends on the rank, which the props do not hold: it joins the cache key.
    return sparse_product_numba, node.inputs[0].ndim


@register_funcify_default_op_cache_key(DenseProduct)
def _numba_dense_product(op, node, **kwargs):
    @numba.njit
    def dense_product_numba(values, matrix, matrix_t):
        return _dense_product(matrix, values)

    return dense_product_numba


if importlib.util.find_spec("jax") is not None:
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(SparseProduct)
    def _jax_sparse_product(op, node=None, **kwargs):
        # optional: JAX is only loaded when a graph is compiled for the JAX backend.
        import jax

        n_rows = op.n_rows

        def sparse_product_jax(values, rows, cols, weights):
            scaled = values[cols] * (weights if values.ndim == 1 else weights[:, None])
            return jax.ops.segment_sum(scaled, rows, num_segments=n_rows)

        return sparse_product_jax

    @jax_funcify.register(DenseProduct)
    def _jax_dense_product(op, node=None, **kwargs):
        # optional: JAX is only loaded when a graph is compiled for the JAX backend.
        import jax.numpy as jnp

        def dense_product_jax(values, matrix, matrix_t):
            return jnp.dot(matrix, values)

        return dense_product_jax
