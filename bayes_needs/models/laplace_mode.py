"""The Laplace approximation's mode and Hessian: L-BFGS, then Newton with a structured Hessian.

The mode is approached by L-BFGS from the model's start values and finished by Newton's
method (two iterations on the England data) with the Hessian from finite differences of the
compiled gradient. The finite differences exploit the models' structure: parameters *local*
to one LA (``la_latent``) interact with the global ones and with their own LA's other local
parameters only, so perturbing every LA's local parameter at once gives all their blocks from
one gradient pair. A Hessian costs ``2 * (globals + locals per LA)`` gradients (40 for
England) instead of ``2 * 628``. :mod:`bayes_needs.models.laplace` builds the approximation
on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
from scipy import linalg, optimize

from bayes_needs.core.errors import BayesNeedsError

#: Relative step of the finite differences of the gradient.
_STEP = 1e-5

#: L-BFGS stops when no gradient component exceeds this; Newton's method finishes.
APPROACH_TOLERANCE = 1.0
#: Pairs of gradient differences L-BFGS keeps.
APPROACH_MEMORY = 30

GradientFunction = Callable[[np.ndarray], tuple[float, np.ndarray]]


class ApproximationError(BayesNeedsError):
    """The Laplace approximation could not be made.

    No mode was found, or the Hessian is not negative definite there.
    """


@dataclass(frozen=True)
class HessianLayout:
    """Which raveled parameters are global and which local to one group (LA).

    Attributes
    ----------
    global_index
        Positions of the global parameters.
    local_index
        ``(groups, per_group)`` positions of the local parameters: entries in different rows
        do not interact (their Hessian entry is zero).
    """

    global_index: np.ndarray
    local_index: np.ndarray

    @classmethod
    def dense(cls, size: int) -> HessianLayout:
        """Every parameter global: the Hessian is estimated column by column."""
        return cls(np.arange(size), np.zeros((0, 0), dtype=int))

    @property
    def gradients_per_hessian(self) -> int:
        """Gradient evaluations one Hessian costs (central differences)."""
        return 2 * (len(self.global_index) + self.local_index.shape[1])



def layout_for(model: pm.Model, local: Mapping[str, int],
               point: Mapping[str, np.ndarray] | None = None) -> HessianLayout:
    """Return the Hessian layout of ``model`` whose ``local`` value variables have a group axis.

    Parameters
    ----------
    model
        The PyMC model.
    local
        Value-variable name -> the axis indexing its groups (LAs). Entries of local variables
        in different groups must not interact in the log density.
    point
        A point of the model, for its variables' shapes (default: its initial point).
    """
    point = model.initial_point() if point is None else point
    start, positions, groups = 0, [], []
    local_columns: list[np.ndarray] = []
    for var in model.value_vars:
        size = int(np.size(point[var.name]))
        index = np.arange(start, start + size).reshape(np.shape(point[var.name]))
        start += size
        if var.name in local:
            by_group = np.moveaxis(index, local[var.name], 0).reshape(index.shape[
                local[var.name]], -1)
            local_columns.append(by_group)
            groups.append(by_group.shape[0])
        else:
            positions.append(index.ravel())
    if len(set(groups)) > 1:
        raise ValueError(f"local variables have different numbers of groups: {groups}")
    local_index = np.concatenate(local_columns, axis=1) if local_columns else \
        np.zeros((0, 0), dtype=int)
    glob = np.concatenate(positions) if positions else np.zeros(0, dtype=int)
    return HessianLayout(glob, local_index)


def hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
            layout: HessianLayout) -> np.ndarray:
    """Return the Hessian of a log density at ``x`` by central differences of its gradient.

    Global columns come one by one; the local blocks of every group together, one position
    within the group at a time (see :class:`HessianLayout`). The result is symmetrised.
    """
    n = x.size
    out = np.zeros((n, n))
    steps = _STEP * np.maximum(1.0, np.abs(x))

    def difference(index: np.ndarray) -> np.ndarray:
        shift = np.zeros(n)
        shift[index] = steps[index]
        return gradient(x + shift) - gradient(x - shift)

    glob = layout.global_index
    for j in glob:
        out[:, j] = difference(np.array([j])) / (2 * steps[j])
    out[glob, :] = out[:, glob].T
    rows = layout.local_index
    for k in range(rows.shape[1]):
        columns = rows[:, k]
        # Group g's rows hold H[row, columns[g]]: the other groups' entries there are zero.
        out[rows, columns[:, None]] = difference(columns)[rows] / (2 * steps[columns])[:, None]
    return 0.5 * (out + out.T)


def find_mode(value_and_gradient: GradientFunction, start: np.ndarray, layout: HessianLayout,
              *, max_iterations: int = 100, tolerance: float = 1e-8,
              approach_tolerance: float = APPROACH_TOLERANCE, approach_memory: int = APPROACH_MEMORY
              ) -> tuple[np.ndarray, float, np.ndarray, int, int]:
    """Return a log density's mode, its value and Hessian, the iterations and gradients used.

    L-BFGS to approach the mode, then Newton's method with a backtracking line search;
    where the Hessian is not negative definite it is shifted towards the gradient direction
    (Levenberg-Marquardt) until it is.

    Raises
    ------
    ApproximationError
        If no mode is reached within ``max_iterations``.
    """
    evaluations = 0

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        value, grad = value_and_gradient(x)
        return float(value), np.asarray(grad, dtype=float)

    x = np.asarray(start, dtype=float)
    value, grad = evaluate(x)
    if not np.isfinite(value):
        raise ApproximationError("the log density is not finite at the start point")
    # Far from the mode a hierarchical model's Hessian is indefinite and Newton's steps are
    # no better than gradient steps at 2 * (globals + locals) gradients each: quasi-Newton
    # steps (one gradient each) get close first, Newton's method finishes.
    approach = optimize.minimize(_negated(evaluate), x, jac=True, method="L-BFGS-B",
                                 options={"maxiter": 20 * x.size, "gtol": approach_tolerance,
                                          "maxcor": approach_memory})
    if np.isfinite(approach.fun) and -approach.fun > value:
        x = approach.x
        value, grad = evaluate(x)
    for iteration in range(1, max_iterations + 1):
        curvature = -hessian(lambda z: evaluate(z)[1], x, layout)
        step = _newton_step(curvature, grad)
        decrement = float(grad @ step)
        if decrement < tolerance:
            return x, value, -curvature, iteration, evaluations
        length = 1.0
        while True:
            trial_value, trial_grad = evaluate(x + length * step)
            if np.isfinite(trial_value) and trial_value >= value + 1e-4 * length * decrement:
                break
            length /= 2
            if length < 1e-10:
                raise ApproximationError("the Laplace approximation found no mode: the line "
                                         "search stalled")
        x, value, grad = x + length * step, trial_value, trial_grad
    raise ApproximationError(f"the Laplace approximation found no mode in {max_iterations} "
                             f"Newton iterations (largest gradient {np.max(np.abs(grad)):.3g})")


def _negated(evaluate: GradientFunction) -> GradientFunction:
    """Return the negated log density and gradient, infinite where the density is not."""
    def negated(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = evaluate(x)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        return -value, -grad
    return negated


def _newton_step(curvature: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Solve ``(curvature + shift I) step = grad`` with the least shift that is positive."""
    shift = 0.0
    scale = max(float(np.max(np.abs(np.diag(curvature)))), 1.0)
    while True:
        try:
            factor = linalg.cho_factor(curvature + shift * np.eye(len(grad)), lower=True)
            return linalg.cho_solve(factor, grad)
        except linalg.LinAlgError:
            shift = max(2 * shift, 1e-8 * scale)
