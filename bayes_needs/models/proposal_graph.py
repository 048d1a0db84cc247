"""Rewrites of the Laplace path's proposal graph: a faster ``exp`` and small products as sums.

The Laplace approximation evaluates its log density (with the draws' outputs) once per
proposal, thousands of times a fit (:mod:`bayes_needs.models.laplace_functions`); two things
dominated a call on England's LA totals (32,844 LSOAs, 4 services) and are rewritten here,
in that function's graph only:

* the ``exp`` of the LSOA-level rates (53% of a call). PyTensor's C and numba code call the
  C library's scalar ``exp``. NumPy's loop is vectorised for single precision on AVX2 and
  for double precision only on AVX-512: on an AVX2 machine (32,844 elements, one core) a
  double-precision ``exp`` took 318 us by NumPy as by the C library, a single-precision one
  78 us, 85 us with the conversions. So :class:`VectorExp` computes in single precision
  wherever the result is a normal single-precision number (relative error under
  :data:`RELATIVE_ERROR`; measured 4e-6 at the ends of that range, 1e-6 on a million normal
  deviates of standard deviation 5), in double precision elsewhere. That is accurate enough
  for what it is used for, the importance ratios of the draws and their expected counts: on
  England's LA totals the log density of 200 draws near the mode moved by at most 4e-6. The
  gradient that finds the mode keeps double precision, since its finite differences make
  the Hessian. On small arrays the Python call costs more than it saves, so
  :func:`with_vector_exp` swaps it in only for large vectors;
* the covariate products ``z @ beta`` (13%): without a BLAS library (a pip install links
  none) PyTensor's C backend runs them in Python. With a few covariates,
  :func:`with_products_as_sums` writes them as sums of columns times coefficients, which
  the C backend fuses into one loop with the rates' other elementwise terms;
* on LSOA returns (the synthetic region, 2,551 LSOAs, 5 services), the rising factorials of
  the negative-binomial and Dirichlet-multinomial terms (58% of a call): the sampler's
  :class:`~bayes_needs.models.kernels.LogRisingFactorial` computes the derivative too and
  runs from Python. :func:`with_value_only_rising_factorials` swaps in
  :class:`LogRisingFactorialValue`, the same loop in C without the derivative.
"""

from __future__ import annotations

import importlib.util
import math
from typing import cast

import numba
import numpy as np
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import io_toposort
from pytensor.link.c.op import COp
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.math import Dot
from pytensor.tensor.variable import TensorConstant

from bayes_needs.models import kernels

#: Bound on the relative error of :class:`VectorExp`: NumPy's single-precision loop is within
#: 2.52 units in the last place (1.5e-7), and rounding the input to single precision adds up
#: to 6e-8 times its magnitude, which is under 88.8 where single precision is used.
RELATIVE_ERROR = 6e-6
_SINGLE = np.finfo(np.float32)


class VectorExp(Op):
    """``exp`` elementwise by NumPy, in single precision where that is accurate.

    Relative error under :data:`RELATIVE_ERROR` (see the module docstring).
    """

    __props__ = ()

    def make_node(self, x):
        """Describe the output (the input's type)."""
        x = pt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        """Compute ``exp`` with NumPy, in single precision where the results are normal."""
        (x,) = inputs
        if x.dtype == np.float64 and x.size:
            with np.errstate(over="ignore", under="ignore"):  # checked below
                single = np.exp(x.astype(np.float32))
            # Neither overflowed nor subnormal: every element within the error bound.
            if single.min() >= _SINGLE.tiny and single.max() <= _SINGLE.max:
                output_storage[0][0] = single.astype(np.float64)
                return
        output_storage[0][0] = np.exp(x)

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the input's shape."""
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        """Return the gradient, ``output_gradient * exp(x)``."""
        return [output_grads[0] * outputs[0]]


def with_vector_exp(outputs: list, min_size: int) -> list:
    """Return ``outputs`` with every ``exp`` of at least ``min_size`` elements a :class:`VectorExp`.

    Sizes are the static shapes; an ``exp`` of unknown size is left as it is.
    """
    replacements: dict[Variable, Variable] = {}
    for node in io_toposort([], outputs):
        if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, ps.Exp):
            out = node.outputs[0]
            shape = out.type.shape
            if all(d is not None for d in shape) and math.prod(shape) >= min_size:
                replacements[out] = cast(Variable, VectorExp()(node.inputs[0]))
    return graph_replace(outputs, replacements, strict=False) if replacements else outputs


def with_products_as_sums(outputs: list, max_columns: int) -> list:
    """Return ``outputs`` with small constant-matrix products written as sums.

    Each product of a constant matrix of at most ``max_columns`` columns and a variable
    becomes a sum over the columns (see the module docstring).
    """
    replacements: dict[Variable, Variable] = {}
    for node in io_toposort([], outputs):
        if not isinstance(node.op, Dot):
            continue
        matrix, other = cast(list[pt.TensorVariable], node.inputs)
        if isinstance(matrix, TensorConstant) and matrix.ndim == 2 and other.ndim == 2 \
                and 0 < matrix.data.shape[1] <= max_columns:
            terms = [pt.as_tensor(np.ascontiguousarray(matrix.data[:, [c]])) * other[c][None, :]
                     for c in range(matrix.data.shape[1])]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            replacements[node.outputs[0]] = cast(Variable, total)
    return graph_replace(outputs, replacements, strict=False) if replacements else outputs


class LogRisingFactorialValue(COp):
    """``log Γ(base + counts) - log Γ(base)`` alone, in C (see the module docstring).

    The inputs are :class:`~bayes_needs.models.kernels.LogRisingFactorial`'s and the loop is
    its, without the derivative; no gradient (only the proposals' log density uses it).
    """

    __props__ = ()

    def make_node(self, base, counts, order, active):
        """Check the inputs and describe the output."""
        node = kernels.LogRisingFactorial().make_node(base, counts, order, active)
        return Apply(self, node.inputs, [node.outputs[0].type()])

    def perform(self, node, inputs, output_storage):
        """Compute the value with the compiled loop (backends without C)."""
        output_storage[0][0] = kernels.LogRisingFactorial().perform_value(inputs)

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the output shape (that of ``base``)."""
        return [input_shapes[0]]

    def c_support_code(self, **kwargs):
        """Return the scalar fallback: one element, by lgamma or a rescaled product."""
        return f"""
        static double log_rising_factorial_one(double b, npy_int64 y) {{
            if (y > {kernels.LOOP_LIMIT} && b < {kernels.LGAMMA_MAX_BASE!r}) {{
                return lgamma(b + (double) y) - lgamma(b);
            }}
            double log_sum = 0.0, prod = 1.0;
            for (npy_int64 j = 0; j < y; ++j) {{
                prod *= b + (double) j;
                if (prod > {kernels.RESCALE_AT!r}) {{ log_sum += log(prod); prod = 1.0; }}
            }}
            return log_sum + log(prod);
        }}
        """

    def c_headers(self, **kwargs):
        """Return the C headers (``lgamma``, ``log``, ``malloc``)."""
        return ["<math.h>", "<stdlib.h>"]

    def c_code(self, node, name, inputs, outputs, sub):
        """Return the loop of :func:`~bayes_needs.models.kernels._log_rising_factorial`."""
        base, counts, order, active = inputs
        (out,) = outputs
        types = [v.type.dtype_specs()[1] for v in node.inputs]
        fail = sub["fail"]
        every, rescale, max_base = (kernels.RESCALE_EVERY, repr(kernels.BATCH_RESCALE_AT),
                                    repr(kernels.BATCH_MAX_BASE))
        return f"""
        {{
            npy_intp n = PyArray_DIMS({base})[0];
            npy_intp n_order = PyArray_DIMS({order})[0];
            npy_intp n_steps = PyArray_DIMS({active})[0];
            if (PyArray_DIMS({counts})[0] != n || n_order > n) {{
                PyErr_SetString(PyExc_ValueError,
                                "LogRisingFactorialValue: base, counts and plan differ in length");
                {fail}
            }}
            Py_XDECREF({out});
            {out} = (PyArrayObject*) PyArray_ZEROS(1, &n, NPY_FLOAT64, 0);
            if (!{out}) {{ {fail} }}
            double* value = (double*) PyArray_DATA({out});
            #define BASE(i) ((double) *({types[0]}*) PyArray_GETPTR1({base}, i))
            #define COUNT(i) ((npy_int64) *({types[1]}*) PyArray_GETPTR1({counts}, i))
            #define ORDER(k) ((npy_int64) *({types[2]}*) PyArray_GETPTR1({order}, k))
            #define ACTIVE(j) ((npy_int64) *({types[3]}*) PyArray_GETPTR1({active}, j))
            npy_intp n_loop = n_steps ? (npy_intp) ACTIVE(0) : 0;
            for (npy_intp j = 0; j < n_steps; ++j) {{
                if (ACTIVE(j) < 0 || ACTIVE(j) > n_loop || n_loop > n_order) {{
                    PyErr_SetString(PyExc_IndexError, "LogRisingFactorialValue: bad plan");
                    {fail}
                }}
            }}
            for (npy_intp k = 0; k < n_order; ++k) {{
                npy_int64 i = ORDER(k);
                if (i < 0 || i >= n || (k < n_loop && COUNT(i) > n_steps)) {{
                    PyErr_SetString(PyExc_IndexError, "LogRisingFactorialValue: bad plan");
                    {fail}
                }}
            }}
            double* b = (double*) malloc(3 * (n_loop ? n_loop : 1) * sizeof(double));
            if (!b) {{ PyErr_NoMemory(); {fail} }}
            double* log_sum = b + n_loop;
            double* prod = log_sum + n_loop;
            for (npy_intp k = 0; k < n_loop; ++k) {{
                b[k] = BASE(ORDER(k));
                if (!(b[k] <= {max_base})) b[k] = 1.0;  /* or NaN: taken one by one below */
                log_sum[k] = 0.0;
                prod[k] = 1.0;
            }}
            for (npy_intp j = 0; j < n_steps; ++j) {{
                npy_intp a = (npy_intp) ACTIVE(j);
                double step = (double) j;
                for (npy_intp k = 0; k < a; ++k) prod[k] *= b[k] + step;
                if (j % {every} == {every} - 1) {{
                    for (npy_intp k = 0; k < a; ++k) {{
                        if (prod[k] > {rescale}) {{ log_sum[k] += log(prod[k]); prod[k] = 1.0; }}
                    }}
                }}
            }}
            for (npy_intp k = 0; k < n_order; ++k) {{
                npy_int64 i = ORDER(k);
                double base_i = BASE(i);
                value[i] = (k < n_loop && base_i <= {max_base}) ? log_sum[k] + log(prod[k])
                           : log_rising_factorial_one(base_i, COUNT(i));
            }}
            free(b);
            #undef BASE
            #undef COUNT
            #undef ORDER
            #undef ACTIVE
        }}
        """

    def c_code_cache_version(self):
        """Version of :meth:`c_code` (part of PyTensor's cache key)."""
        return (1,)


def with_value_only_rising_factorials(outputs: list) -> list:
    """Return ``outputs`` with each rising factorial's value from :class:`LogRisingFactorialValue`.

    The derivative output is left unused (a log density without its gradient needs none).
    """
    replacements: dict[Variable, Variable] = {
        node.outputs[0]: cast(Variable, LogRisingFactorialValue()(*node.inputs))
        for node in io_toposort([], outputs)
        if isinstance(node.op, kernels.LogRisingFactorial)}
    return graph_replace(outputs, replacements, strict=False) if replacements else outputs


@register_funcify_default_op_cache_key(VectorExp)
def _numba_vector_exp(op, node, **kwargs):
    @numba.njit
    def vector_exp_numba(x):
        return np.exp(x)

    return vector_exp_numba


if importlib.util.find_spec("jax") is not None:
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(VectorExp)
    def _jax_vector_exp(op, node=None, **kwargs):
        import jax.numpy as jnp  # optional: JAX is loaded only for the JAX backend

        return jnp.exp
