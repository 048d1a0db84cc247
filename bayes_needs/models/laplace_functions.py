"""The compiled functions of the Laplace approximation, kept for the next fit of the same model.

Compiling a model's log density with its gradient, the log density alone and the draws'
deterministics is most of a Laplace fit's time when it is made once (about 5 s of 15 on the
England LA totals). Our models hold their data as constants of the graph (no shared
variables), so two models built from the same config and data have the same graph and can
share compiled functions: :func:`density_functions` keeps the last few, keyed by what the
caller says identifies the graph (a model's kind, data hash and stored config), so a second fit
of the same model in the same process (a benchmark's warm fit, a sensitivity scenario that
changes only the need step) compiles nothing.

Measured alternatives (England 2024 LA totals, 2 loaded cores): the log density of many draws
as one vectorised graph (``pytensor.graph.replace.vectorize_graph`` over a leading batch
dimension) took as long as one call per draw, 3.8 s against 3.4 s for 2,000 draws at batches
of 100 and 8.5 s in one batch (its memory traffic), and compiled for longer; three quarters of
a call is the LSOA-level rates (an ``exp`` of 4 x 32,844 terms) and the segment sums, which a
batch does not make cheaper. The numba backend (:data:`COMPILE_MODE` ``"NUMBA"``) was no
clear gain either (whole fits in fresh processes, numba's cache warm, load about 3.5): first
fit 9.7-11.9 s against 13.6-16.2 s with C on England but warm fits 6.2-6.6 s against
4.7-6.3 s; region first 20.3 s against 15.4 s, warm 4.7-7.0 s against 6.0-8.2 s. Of a first
fit's compilation in a fresh process, reading PyTensor's C module cache (every compiled
module's key) is a fixed cost that any C-backend fit pays once. ``FAST_COMPILE`` rewrites
took longer to link and ran two to four times slower a call.

What did pay: a C loop for the segment sums instead of a Python ``perform``, and the
rewrites of :mod:`bayes_needs.models.proposal_graph` (the ``exp`` of the LSOA-level rates in
single precision from NumPy's vectorised loop, small covariate products as sums, the rising
factorials' values alone in C). On England's LA totals a proposal's thunks took 1.25 ms
instead of 1.71 ms (AVX2 machine, loaded by a test run; 320 calls); on the region's LSOA
returns the warm fit went from 7.6 s to 4.1 s.

The log density comes as one term per block where the posterior factorises
(:func:`block_terms`), so :mod:`bayes_needs.models.laplace` can weigh each block on its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.pytensorf import join_nonshared_inputs
from pymc.util import get_default_varnames

from bayes_needs.models.laplace_mode import GradientFunction
from bayes_needs.models.proposal_graph import (
    with_products_as_sums,
    with_value_only_rising_factorials,
    with_vector_exp,
)

#: PyTensor mode of the compiled functions (``None``: PyMC's default, the C backend).
COMPILE_MODE: str | None = None
#: Smallest ``exp`` computed by NumPy (:class:`~bayes_needs.models.proposal_graph.VectorExp`): below
#: a few thousand elements the Python call costs more than the vector loop saves.
VECTOR_EXP_MIN_SIZE = 4096
#: Most covariates whose product with their coefficients is written as a sum
#: (:func:`~bayes_needs.models.proposal_graph.with_products_as_sums`).
PRODUCT_MAX_COLUMNS = 8
#: Models whose compiled functions are kept (least recently used dropped first).
CACHE_SIZE = 4


@dataclass(frozen=True)
class DensityFunctions:
    """A model's compiled log density, gradient and deterministics, on raveled vectors.

    Where the posterior factorises over blocks (:class:`Blocks`) the log density comes as one
    term per block, whose sum is the model's.
    """

    #: Raveled unconstrained vector -> log density (with Jacobians) and its gradient.
    value_and_gradient: GradientFunction
    #: One raveled vector -> ``[block log densities, *outputs]``: the outputs (every free
    #: variable, constrained, and deterministic) share the log density's work (an LA
    #: effect's centring needs the expected counts the likelihood computes), so one call
    #: gives both.
    density_and_outputs: Callable[[np.ndarray], list[np.ndarray]]
    #: Names of the outputs, in order.
    output_names: tuple[str, ...]
    #: The value variables' names and shapes the functions were compiled for.
    signature: tuple[tuple[str, tuple[int, ...]], ...]
    #: The blocks the log density is split into (one block: it is not split).
    blocks: Blocks
    #: The point the functions were compiled at (the model's initial point unless given).
    initial_point: dict[str, np.ndarray]

    def log_density(self, x: np.ndarray) -> float | np.ndarray:
        """Return the log density of a raveled vector, or of each row of a 2-d array."""
        return self.evaluate(x)[0] if np.ndim(x) > 1 else \
            float(np.sum(self.density_and_outputs(np.asarray(x, dtype=float))[0]))

    def evaluate(self, proposals: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return the log density and the outputs of each row of ``proposals``."""
        block_density, outputs = self.evaluate_blocks(proposals)
        return block_density.sum(axis=1), outputs

    def evaluate_blocks(self, proposals: np.ndarray
                        ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return each row's log density by block ``(rows, blocks)`` and its outputs."""
        rows = [self.density_and_outputs(row) for row in np.asarray(proposals, dtype=float)]
        block_density = np.array([row[0] for row in rows], dtype=float).reshape(len(rows), -1)
        outputs = {name: np.stack([np.asarray(row[j + 1]) for row in rows])
                   for j, name in enumerate(self.output_names)}
        return block_density, outputs


@dataclass(frozen=True)
class Blocks:
    """Blocks of parameters over which the posterior factorises (one block: it does not).

    The log density is a sum of one term per block, each a function of its block's
    parameters only, so each block can be importance-weighted and resampled on its own
    (:mod:`bayes_needs.models.laplace`).
    """

    #: Raveled positions of each block's parameters.
    index: tuple[np.ndarray, ...]
    #: Output name -> the axis of its shape that indexes the blocks.
    output_axes: dict[str, int]

    @property
    def count(self) -> int:
        """Number of blocks."""
        return len(self.index)


@dataclass(frozen=True)
class BlockSpec:
    """What a model declares of its factorisation (see :func:`block_terms`)."""

    #: The dimension that indexes the blocks (an area model's services).
    dim: str
    #: Observed variable name -> its block.
    observed: dict[str, int]


_CACHE: OrderedDict[Hashable, DensityFunctions] = OrderedDict()


def signature_of(model: pm.Model, point: dict[str, np.ndarray]
                 ) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Return the names and shapes of ``model``'s value variables."""
    return tuple((v.name, tuple(np.shape(point[v.name]))) for v in model.value_vars)


def density_functions(model: pm.Model, point: dict[str, np.ndarray] | None = None,
                      cache_key: Hashable | None = None,
                      block_spec: BlockSpec | None = None) -> DensityFunctions:
    """Return ``model``'s compiled functions, reused from an earlier call with ``cache_key``.

    Parameters
    ----------
    model
        The PyMC model.
    point
        A point of the model (shapes of its value variables); by default its initial point,
        made only when the functions are compiled (PyMC compiles a function for it).
    cache_key
        What identifies the model's graph: equal keys must mean equal graphs (for our models,
        kind, data hash and stored config). ``None`` compiles afresh and keeps nothing.
    block_spec
        How the model's posterior factorises, if it does (:func:`block_terms`); ``None``:
        one block.
    """
    if cache_key is not None and cache_key in _CACHE:
        cached = _CACHE[cache_key]
        if point is None or cached.signature == signature_of(model, point):
            _CACHE.move_to_end(cache_key)
            return cached
    point = model.initial_point() if point is None else point
    functions = _compile(model, point, signature_of(model, point), block_spec)
    if cache_key is not None:
        _CACHE[cache_key] = functions
        _CACHE.move_to_end(cache_key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return functions


def value_blocks(model: pm.Model, point: dict[str, np.ndarray], dim: str | None
                 ) -> tuple[list[np.ndarray], list[int] | None]:
    """Return each value variable's raveled positions by block, and its block axis.

    Rows are blocks: ``(blocks, per block)`` per variable, in the model's raveled order,
    where every free variable has ``dim`` among its dims with the same length; otherwise
    one row each and no axes.
    """
    names = [model.values_to_rvs[v].name for v in model.value_vars]
    shapes = [np.shape(point[v.name]) for v in model.value_vars]
    starts = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    indices = [np.arange(a, b).reshape(s)
               for a, b, s in zip(starts[:-1], starts[1:], shapes, strict=True)]
    found = [model.named_vars_to_dims.get(n) or () for n in names]
    if dim is not None and all(dim in d for d in found):
        axes = [d.index(dim) for d in found]
        rows = [np.moveaxis(i, a, 0).reshape(i.shape[a], -1)
                for i, a in zip(indices, axes, strict=True)]
        if len({r.shape[0] for r in rows}) == 1:
            return rows, axes
    return [i.reshape(1, -1) for i in indices], None


def block_terms(model: pm.Model, point: dict[str, np.ndarray], spec: BlockSpec | None
                ) -> tuple[pt.TensorVariable, Blocks]:
    """Return the log density as a vector of one term per block, and the blocks.

    Every free variable, and every output, has ``spec.dim`` among its dims, and every
    observed variable has a block in ``spec.observed``; then block ``b``'s term is the sum of
    the free variables' (elementwise) log densities at position ``b`` of that axis and of
    its observed variables' log densities. Where that does not hold (no spec, a potential, a
    variable without the dimension, a multivariate prior along it) there is one block.
    """
    def one() -> tuple[pt.TensorVariable, Blocks]:
        size = sum(int(np.size(point[v.name])) for v in model.value_vars)
        return pt.stack([model.logp()]), Blocks((np.arange(size),), {})

    if spec is None or model.potentials:
        return one()
    outputs = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    output_dims = {var.name: model.named_vars_to_dims.get(var.name) or () for var in outputs}
    rows, axes = value_blocks(model, point, spec.dim)
    if axes is None or any(spec.dim not in d for d in output_dims.values()) or \
            any(rv.name not in spec.observed for rv in model.observed_RVs) or \
            [v.name for v in model.value_vars] != \
            [model.rvs_to_values[rv].name for rv in model.free_RVs]:  # the terms' order
        return one()
    count = rows[0].shape[0]
    terms = model.logp(vars=[*model.free_RVs, *model.observed_RVs], sum=False)
    per_block: list[list] = [[] for _ in range(count)]
    for value, term, axis in zip(model.value_vars, terms, axes, strict=False):
        if term.ndim != np.ndim(point[value.name]):
            return one()  # a multivariate or reshaping term: not elementwise along the blocks
        by_block = pt.moveaxis(term, axis, 0).reshape((count, -1)).sum(axis=1)
        for b in range(count):
            per_block[b].append(by_block[b])
    for rv, term in zip(model.observed_RVs, terms[len(model.free_RVs):], strict=True):
        per_block[spec.observed[rv.name]].append(term.sum())
    return pt.stack([sum(terms_b[1:], terms_b[0]) for terms_b in per_block]), Blocks(
        tuple(np.sort(np.concatenate([r[b] for r in rows])) for b in range(count)),
        {name: d.index(spec.dim) for name, d in output_dims.items()})


def _compile(model: pm.Model, point: dict[str, np.ndarray],
             signature: tuple[tuple[str, tuple[int, ...]], ...],
             block_spec: BlockSpec | None) -> DensityFunctions:
    mode = pm.pytensorf.get_mode(COMPILE_MODE)
    value_and_gradient = model.logp_dlogp_function(ravel_inputs=True, initial_point=point,
                                                   mode=mode)
    value_and_gradient.set_extra_values({})
    outputs = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    # The exps and covariate products of LSOA-level vectors dominate a call (4 x 32,844 on
    # England's LA totals): see proposal_graph. (Not in the gradient: the mode's Hessian
    # needs double precision, and compiled from a rewritten graph outside PyMC's
    # logp_dlogp_function it ran twice as slowly.)
    block_density, blocks = block_terms(model, point, block_spec)
    rewritten = with_value_only_rising_factorials(
        with_products_as_sums([block_density, *outputs], PRODUCT_MAX_COLUMNS))
    joined_outputs, joined = join_nonshared_inputs(
        point, with_vector_exp(rewritten, VECTOR_EXP_MIN_SIZE), model.value_vars)
    density_and_outputs = pytensor.function([joined], joined_outputs, mode=mode)
    return DensityFunctions(
        value_and_gradient=lambda x: value_and_gradient(x),
        density_and_outputs=density_and_outputs,
        output_names=tuple(var.name for var in outputs), signature=signature, blocks=blocks,
        initial_point={name: np.array(value) for name, value in point.items()})


def log_density_function(model: pm.Model, point: dict[str, np.ndarray]
                         ) -> Callable[[np.ndarray], float]:
    """Return ``model``'s log density (unconstrained, with Jacobians) of a raveled vector.

    Compiled on its own, for callers that need no gradient or outputs (nor the cache).
    """
    [logp], joined = join_nonshared_inputs(point, [model.logp()], model.value_vars)
    function = pytensor.function([joined], logp, mode=pm.pytensorf.get_mode(None))
    return lambda x: float(function(np.asarray(x, dtype=float)))

