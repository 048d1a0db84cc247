"""Compiled pytensor Ops for the likelihood hot spots: segment sums and rising factorials.

The segment sums and rising factorials are plain loops compiled with numba, which pytensor
already depends on. They run in every backend: the numba backend (nutpie) inlines the loop;
the C backend (PyMC's own sampler, the Laplace path) runs the segment sum's C code and the
rising factorial's ``perform``, which calls the compiled loop; the JAX backend (numpyro) gets
a ``jax`` equivalent.

The rising factorials step through all counts at once, factor ``j`` of every product in one
pass over the counts above ``j`` (sorted once, with the graph): counts of small areas are
mostly 0-5, and a loop per element mispredicted its trip counts. On the national benchmark's
33,000 LSOA counts that halved the kernel (470 to 240 us) and cut nutpie's gradient by a
quarter.

Being opaque Ops is also what makes them fast in the gradient. PyMC rewrites the logp graph
before differentiating; with a segment sum built from ``cumsum``, those rewrites split one
sum into a copy per likelihood term that reads it, and the gradient was then computed once per
copy. An Op the rewrites cannot look into stays one node, with one gradient.
"""

from __future__ import annotations

import importlib.util
import math
from typing import cast

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.c.op import COp
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from pytensor.tensor.type import integer_dtypes

# Above this count, log Γ(b + y) - log Γ(b) is taken from lgamma instead of a product,
# unless the base is so large that the difference of two lgammas loses precision.
LOOP_LIMIT = 64
LGAMMA_MAX_BASE = 1e6
# Rescale the running product before it can overflow: at once for one element, every
# RESCALE_EVERY factors in the batched loop, which only takes bases up to BATCH_MAX_BASE
# (1e100 * (1e25 + 64)^8 < 1e301).
RESCALE_AT = 1e200
RESCALE_EVERY = 8
BATCH_RESCALE_AT = 1e100
BATCH_MAX_BASE = 1e25


# ---------------------------------------------------------------------- compiled loops
# error_model="numpy": a zero or underflowed base gives -inf/inf/nan like gammaln would (the
# sampler then rejects the point), instead of raising ZeroDivisionError mid-trajectory.
@numba.njit(cache=True, error_model="numpy")
def _segment_sum_1d(values, segment_ids, n_segments):
    out = np.zeros(n_segments, dtype=values.dtype)
    for i in range(values.shape[0]):
        out[segment_ids[i]] += values[i]
    return out


@numba.njit(cache=True, error_model="numpy")
def _segment_sum_2d(values, segment_ids, n_segments):
    out = np.zeros((n_segments, values.shape[1]), dtype=values.dtype)
    for i in range(values.shape[0]):
        s = segment_ids[i]
        for k in range(values.shape[1]):
            out[s, k] += values[i, k]
    return out


@numba.njit(cache=True, error_model="numpy")
def _digamma(x):
    # Recurrence up to x >= 6, then the asymptotic series (error < 1e-12 there).
    shift = 0.0
    while x < 6.0:
        shift -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (
        1.0 / 240 - inv2 / 132))))
    return shift + math.log(x) - 0.5 / x - series


@numba.njit(cache=True, error_model="numpy")
def _log_rising_factorial_one(b, y):
    if y > LOOP_LIMIT and b < LGAMMA_MAX_BASE:
        return math.lgamma(b + y) - math.lgamma(b), _digamma(b + y) - _digamma(b)
    # prod (b + j) and its derivative, rescaled into the sums now and then
    log_sum, ratio_sum, prod, dprod = 0.0, 0.0, 1.0, 0.0
    for j in range(y):
        x = b + j
        dprod = dprod * x + prod
        prod = prod * x
        if prod > RESCALE_AT:
            log_sum += math.log(prod)
            ratio_sum += dprod / prod
            prod, dprod = 1.0, 0.0
    return log_sum + math.log(prod), ratio_sum + dprod / prod


@numba.njit(cache=True, error_model="numpy")
def _log_rising_factorial(base, counts, order, active):
    # order: positions with 0 < count <= LOOP_LIMIT by count descending (active[0] of them),
    # then those above; active[j]: how many counts exceed j. Step j of every product is then
    # one branch-free pass over a prefix, which vectorises, where a loop per element
    # mispredicts its varying trip counts.
    value = np.zeros(base.shape[0])
    derivative = np.zeros(base.shape[0])
    n_loop = active[0] if active.shape[0] else 0
    b = np.empty(n_loop)
    for k in range(n_loop):
        b[k] = base[order[k]]
        if not b[k] <= BATCH_MAX_BASE:  # (or NaN) could overflow between rescales
            b[k] = 1.0
    log_sum, ratio_sum = np.zeros(n_loop), np.zeros(n_loop)
    prod, dprod = np.ones(n_loop), np.zeros(n_loop)
    for j in range(active.shape[0]):
        for k in range(active[j]):
            x = b[k] + j
            dprod[k] = dprod[k] * x + prod[k]
            prod[k] = prod[k] * x
        if j % RESCALE_EVERY == RESCALE_EVERY - 1:
            for k in range(active[j]):
                if prod[k] > BATCH_RESCALE_AT:
                    log_sum[k] += math.log(prod[k])
                    ratio_sum[k] += dprod[k] / prod[k]
                    prod[k], dprod[k] = 1.0, 0.0
    for k in range(n_loop):
        i = order[k]
        if base[i] <= BATCH_MAX_BASE:
            value[i] = log_sum[k] + math.log(prod[k])
            derivative[i] = ratio_sum[k] + dprod[k] / prod[k]
        else:
            value[i], derivative[i] = _log_rising_factorial_one(base[i], counts[i])
    for k in range(n_loop, order.shape[0]):
        i = order[k]
        value[i], derivative[i] = _log_rising_factorial_one(base[i], counts[i])
    return value, derivative


def rising_factorial_plan(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the order and prefix lengths :func:`_log_rising_factorial` steps through."""
    counts = np.asarray(counts, np.int64)
    looped = np.flatnonzero((counts > 0) & (counts <= LOOP_LIMIT))
    looped = looped[np.argsort(-counts[looped], kind="stable")]
    order = np.concatenate([looped, np.flatnonzero(counts > LOOP_LIMIT)])
    ascending = np.sort(counts[looped])
    steps = np.arange(ascending[-1] if len(ascending) else 0)
    active = len(ascending) - np.searchsorted(ascending, steps, side="right")
    return order.astype(np.int64), active.astype(np.int64)


# ---------------------------------------------------------------------- Ops
class SegmentSum(COp):
    """Sum the rows of ``values`` by ``segment_ids`` (sorted or not) into ``n_segments`` rows.

    The gradient is a gather, ``output_gradient[segment_ids]``. The C backend runs a C loop
    (:meth:`c_code`): a Python ``perform`` cost 15-20 us a call in the overhead alone, and a
    Laplace fit's log density calls it nine times.
    """

    __props__ = ("n_segments",)

    def __init__(self, n_segments: int):
        self.n_segments = int(n_segments)

    def make_node(self, values, segment_ids):
        """Check the inputs and describe the output (one row per segment)."""
        values = pt.as_tensor_variable(values)
        segment_ids = pt.as_tensor_variable(segment_ids)
        if values.ndim not in (1, 2) or segment_ids.ndim != 1:
            raise TypeError("SegmentSum needs 1-d or 2-d values and 1-d segment ids")
        if segment_ids.dtype not in integer_dtypes:
            raise TypeError("segment ids must be integers")
        out = pt.tensor(dtype=values.dtype,
                        shape=(self.n_segments, *values.type.shape[1:]))
        return Apply(self, [values, segment_ids], [out])

    def perform(self, node, inputs, output_storage):
        """Sum the rows with the compiled loop."""
        values, segment_ids = inputs
        kernel = _segment_sum_1d if values.ndim == 1 else _segment_sum_2d
        output_storage[0][0] = kernel(values, np.asarray(segment_ids, np.int64), self.n_segments)

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the output shape without evaluating the sum."""
        return [(self.n_segments, *input_shapes[0][1:])]

    def c_code(self, node, name, inputs, outputs, sub):
        """Return the C loop of :meth:`perform`, checking the segment ids' range."""
        values, segment_ids = inputs
        (out,) = outputs
        value_type = node.inputs[0].type.dtype_specs()[1]
        id_type = node.inputs[1].type.dtype_specs()[1]
        typenum = node.outputs[0].type.dtype_specs()[2]
        two_d = node.inputs[0].ndim == 2
        columns = f"PyArray_DIMS({values})[1]" if two_d else "1"
        column_stride = f"PyArray_STRIDES({values})[1]" if two_d else "0"
        fail = sub["fail"]
        return f"""
        {{
            npy_intp n_rows = PyArray_DIMS({values})[0];
            npy_intp n_cols = {columns};
            npy_intp dims[2] = {{{self.n_segments}, n_cols}};
            if (PyArray_DIMS({segment_ids})[0] != n_rows) {{
                PyErr_SetString(PyExc_ValueError,
                                "SegmentSum: values and segment ids differ in length");
                {fail}
            }}
            Py_XDECREF({out});
            {out} = (PyArrayObject*) PyArray_ZEROS({node.inputs[0].ndim}, dims, {typenum}, 0);
            if (!{out}) {{ {fail} }}
            {value_type}* sums = ({value_type}*) PyArray_DATA({out});
            char* row = PyArray_BYTES({values});
            npy_intp row_stride = PyArray_STRIDES({values})[0];
            npy_intp column_stride = {column_stride};
            for (npy_intp i = 0; i < n_rows; ++i, row += row_stride) {{
                npy_int64 s = (npy_int64) *({id_type}*) PyArray_GETPTR1({segment_ids}, i);
                if (s < 0 || s >= {self.n_segments}) {{
                    PyErr_SetString(PyExc_IndexError, "SegmentSum: segment id out of range");
                    {fail}
                }}
                for (npy_intp k = 0; k < n_cols; ++k) {{
                    sums[s * n_cols + k] += *({value_type}*) (row + k * column_stride);
                }}
            }}
        }}
        """

    def c_code_cache_version(self):
        """Version of :meth:`c_code` (part of PyTensor's cache key)."""
        return (1,)

    def connection_pattern(self, node):
        """Declare the output differentiable in ``values`` only."""
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        """Return the gradient: a gather of the output gradient by segment."""
        _, segment_ids = inputs
        return [output_grads[0][segment_ids], DisconnectedType()()]


class LogRisingFactorial(Op):
    """``log Γ(base + counts) - log Γ(base)`` and its derivative in ``base``, elementwise.

    One pass gives both outputs, so a logp-and-gradient function evaluates the loop once.
    ``counts`` are whole numbers >= 0 (not differentiated); ``order`` and ``active`` are
    :func:`rising_factorial_plan` of them (data, so made once with the graph).
    """

    __props__ = ()

    def make_node(self, base, counts, order, active):
        """Check the inputs and describe the outputs (value and derivative)."""
        base = pt.as_tensor_variable(base).astype("float64")
        counts, order, active = map(pt.as_tensor_variable, (counts, order, active))
        if any(v.ndim != 1 for v in (base, counts, order, active)):
            raise TypeError("LogRisingFactorial needs 1-d base, counts and plan")
        if any(v.dtype not in integer_dtypes for v in (counts, order, active)):
            raise TypeError("counts and their plan must be integers")
        return Apply(self, [base, counts, order, active], [base.type(), base.type()])

    def perform(self, node, inputs, output_storage):
        """Compute value and derivative in one compiled pass."""
        output_storage[0][0], output_storage[1][0] = self._compute(inputs)

    def perform_value(self, inputs) -> np.ndarray:
        """Return the value alone (for an Op that needs no derivative)."""
        return self._compute(inputs)[0]

    @staticmethod
    def _compute(inputs) -> tuple[np.ndarray, np.ndarray]:
        base, counts, order, active = (np.asarray(v, np.int64) if k else v
                                       for k, v in enumerate(inputs))
        if base.shape != counts.shape:  # the compiled loop does not check bounds
            raise ValueError(f"base has shape {base.shape} but counts {counts.shape}")
        return _log_rising_factorial(base, counts, order, active)

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the output shapes (those of ``base``)."""
        return [input_shapes[0], input_shapes[0]]

    def connection_pattern(self, node):
        """Declare both outputs differentiable in ``base`` only."""
        return [[True, True], [False, False], [False, False], [False, False]]

    def L_op(self, inputs, outputs, output_grads):
        """Return the gradient from the derivative output (no second derivative)."""
        base = inputs[0]
        disconnected = [DisconnectedType()() for _ in inputs[1:]]
        if not isinstance(output_grads[1].type, DisconnectedType):
            return [grad_not_implemented(self, 0, base, "second derivative of the rising "
                                         "factorial"), *disconnected]
        return [output_grads[0] * outputs[1], *disconnected]


def segment_sum(values, segment_ids: np.ndarray, n_segments: int):
    """Tensor of the sums of the rows of ``values`` per segment (see :class:`SegmentSum`).

    ``segment_ids`` is data, checked here because the compiled loop does not check bounds.
    """
    segment_ids = np.asarray(segment_ids, np.int64)
    if len(segment_ids) and (segment_ids.min() < 0 or segment_ids.max() >= n_segments):
        raise ValueError(f"segment ids must lie in [0, {n_segments})")
    return SegmentSum(n_segments)(values, pt.as_tensor(segment_ids))


def log_rising_factorial_vector(base, counts: np.ndarray):
    """``log Γ(base + counts) - log Γ(base)`` for a vector ``base`` (one per count)."""
    counts = np.asarray(counts, np.int64)
    if (counts < 0).any():
        raise ValueError("counts must be >= 0")
    order, active = rising_factorial_plan(counts)
    # The Op has two outputs (value and derivative), so calling it returns a list.
    return cast(list, LogRisingFactorial()(base, pt.as_tensor(counts), pt.as_tensor(order),
                                           pt.as_tensor(active)))[0]


# ---------------------------------------------------------------------- other backends
@register_funcify_default_op_cache_key(SegmentSum)
def _numba_segment_sum(op, node, **kwargs):
    n_segments = op.n_segments
    kernel = _segment_sum_1d if node.inputs[0].ndim == 1 else _segment_sum_2d

    @numba.njit
    def segment_sum_numba(values, segment_ids):
        return kernel(values, segment_ids, n_segments)

    # The loop depends on the rank, which the props do not hold: it joins the cache key.
    return segment_sum_numba, node.inputs[0].ndim


@register_funcify_default_op_cache_key(LogRisingFactorial)
def _numba_log_rising_factorial(op, node, **kwargs):
    @numba.njit
    def log_rising_factorial_numba(base, counts, order, active):
        return _log_rising_factorial(base, counts, order, active)

    # 2: the Op's inputs grew the plan; the version joins the cache key.
    return log_rising_factorial_numba, 2


if importlib.util.find_spec("jax") is not None:
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(SegmentSum)
    def _jax_segment_sum(op, node=None, **kwargs):
        # optional: JAX is only loaded when a graph is compiled for the JAX backend.
        import jax

        n_segments = op.n_segments

        def segment_sum_jax(values, segment_ids):
            return jax.ops.segment_sum(values, segment_ids, num_segments=n_segments)

        return segment_sum_jax

    @jax_funcify.register(LogRisingFactorial)
    def _jax_log_rising_factorial(op, node=None, **kwargs):
        # optional: JAX is only loaded when a graph is compiled for the JAX backend.
        import jax.numpy as jnp
        from jax.scipy.special import digamma, gammaln  # optional: as above

        def log_rising_factorial_jax(base, counts, order, active):
            positive = counts > 0
            value = jnp.where(positive, gammaln(base + counts) - gammaln(base), 0.0)
            derivative = jnp.where(positive, digamma(base + counts) - digamma(base), 0.0)
            return value, derivative

        return log_rising_factorial_jax
