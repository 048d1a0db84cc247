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

What did pay: the ``exp`` of the LSOA-level rates from NumPy's vectorised loop
(:class:`~bayes_needs.models.vector_exp.VectorExp`) instead of the C library's scalar one, and
a C loop for the segment sums instead of a Python ``perform``: a proposal's log density on
England's LA totals took 0.90 ms instead of 1.67 ms (same loaded machine, 500 calls).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
from pymc.pytensorf import join_nonshared_inputs
from pymc.util import get_default_varnames

from bayes_needs.models.laplace_mode import GradientFunction
from bayes_needs.models.vector_exp import with_vector_exp

#: PyTensor mode of the compiled functions (``None``: PyMC's default, the C backend).
COMPILE_MODE: str | None = None
#: Smallest ``exp`` computed by NumPy (:class:`~bayes_needs.models.vector_exp.VectorExp`): below
#: a few thousand elements the Python call costs more than the vector loop saves.
VECTOR_EXP_MIN_SIZE = 4096
#: Models whose compiled functions are kept (least recently used dropped first).
CACHE_SIZE = 4


@dataclass(frozen=True)
class DensityFunctions:
    """A model's compiled log density, gradient and deterministics, on raveled vectors."""

    #: Raveled unconstrained vector -> log density (with Jacobians) and its gradient.
    value_and_gradient: GradientFunction
    #: One raveled vector -> ``[log density, *outputs]``: the outputs (every free variable,
    #: constrained, and deterministic) share the log density's work (an LA effect's
    #: centring needs the expected counts the likelihood computes), so one call gives both.
    density_and_outputs: Callable[[np.ndarray], list[np.ndarray]]
    #: Names of the outputs, in order.
    output_names: tuple[str, ...]
    #: The value variables' names and shapes the functions were compiled for.
    signature: tuple[tuple[str, tuple[int, ...]], ...]

    def log_density(self, x: np.ndarray) -> float | np.ndarray:
        """Return the log density of a raveled vector, or of each row of a 2-d array."""
        return self.evaluate(x)[0] if np.ndim(x) > 1 else \
            float(self.density_and_outputs(np.asarray(x, dtype=float))[0])

    def evaluate(self, proposals: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return the log density and the outputs of each row of ``proposals``."""
        rows = [self.density_and_outputs(row) for row in np.asarray(proposals, dtype=float)]
        log_density = np.array([float(row[0]) for row in rows], dtype=float)
        outputs = {name: np.stack([np.asarray(row[j + 1]) for row in rows])
                   for j, name in enumerate(self.output_names)}
        return log_density, outputs


_CACHE: OrderedDict[Hashable, DensityFunctions] = OrderedDict()


def signature_of(model: pm.Model, point: dict[str, np.ndarray]
                 ) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Return the names and shapes of ``model``'s value variables."""
    return tuple((v.name, tuple(np.shape(point[v.name]))) for v in model.value_vars)


def density_functions(model: pm.Model, point: dict[str, np.ndarray],
                      cache_key: Hashable | None = None) -> DensityFunctions:
    """Return ``model``'s compiled functions, reused from an earlier call with ``cache_key``.

    Parameters
    ----------
    model
        The PyMC model.
    point
        A point of the model (shapes of its value variables).
    cache_key
        What identifies the model's graph: equal keys must mean equal graphs (for our models,
        kind, data hash and stored config). ``None`` compiles afresh and keeps nothing.
    """
    signature = signature_of(model, point)
    if cache_key is not None and cache_key in _CACHE:
        cached = _CACHE[cache_key]
        if cached.signature == signature:
            _CACHE.move_to_end(cache_key)
            return cached
    functions = _compile(model, point, signature)
    if cache_key is not None:
        _CACHE[cache_key] = functions
        _CACHE.move_to_end(cache_key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return functions


def _compile(model: pm.Model, point: dict[str, np.ndarray],
             signature: tuple[tuple[str, tuple[int, ...]], ...]) -> DensityFunctions:
    mode = pm.pytensorf.get_mode(COMPILE_MODE)
    value_and_gradient = model.logp_dlogp_function(ravel_inputs=True, initial_point=point,
                                                   mode=mode)
    value_and_gradient.set_extra_values({})
    outputs = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    # The exps of LSOA-level vectors dominate a call (4 x 32,844 on England's LA totals):
    # NumPy's vectorised exp instead of the C library's scalar one. (Not in the gradient:
    # compiled from a rewritten graph outside PyMC's logp_dlogp_function it ran twice as
    # slowly, with or without it.)
    joined_outputs, joined = join_nonshared_inputs(
        point, with_vector_exp([model.logp(), *outputs], VECTOR_EXP_MIN_SIZE),
        model.value_vars)
    density_and_outputs = pytensor.function([joined], joined_outputs, mode=mode)
    return DensityFunctions(
        value_and_gradient=lambda x: value_and_gradient(x),
        density_and_outputs=density_and_outputs,
        output_names=tuple(var.name for var in outputs), signature=signature)


def log_density_function(model: pm.Model, point: dict[str, np.ndarray]
                         ) -> Callable[[np.ndarray], float]:
    """Return ``model``'s log density (unconstrained, with Jacobians) of a raveled vector.

    Compiled on its own, for callers that need no gradient or outputs (nor the cache).
    """
    [logp], joined = join_nonshared_inputs(point, [model.logp()], model.value_vars)
    function = pytensor.function([joined], logp, mode=pm.pytensorf.get_mode(None))
    return lambda x: float(function(np.asarray(x, dtype=float)))

