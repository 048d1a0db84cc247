"""The lattice of the nested Laplace approximation (:mod:`bayes_needs.models.nested_laplace`).

The hyperparameters ``θ`` of each block, the conditional mode of the other parameters given
them and the Laplace marginal ``log π̃(θ|y)``; its mode and curvature; the lattice explored
outwards from the mode. Blocks share nothing, so one conditional mode (at every block's own
``θ``) serves all blocks at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
from scipy import linalg

from bayes_needs.core import defaults
from bayes_needs.models.laplace import ApproximationError, HessianLayout, find_mode, hessian
from bayes_needs.models.laplace_functions import value_blocks
from bayes_needs.models.laplace_mode import GradientFunction

#: Finite-difference step of ``log π̃`` and of the conditional mode in ``θ`` (unconstrained).
_THETA_STEP = 1e-1
_GRADIENT_STEP = 1e-5
#: Newton decrement at which a conditional mode is taken (about twice the log density a
#: further step would gain: far below what moves the lattice's weights).
_CONDITIONAL_TOLERANCE = 1e-4
#: Newton iterations of a conditional mode before the slower, surer search takes over.
_NEWTON_ITERATIONS = 8
#: Least curvature of ``log π̃`` taken for the lattice's scale (sd at most about 3).
_LEAST_CURVATURE = 0.1


@dataclass(frozen=True)
class HyperBlocks:
    """Raveled positions of each block's hyperparameters ``θ`` and of its other parameters."""

    theta: np.ndarray       #: ``(blocks, hyperparameters per block)``
    rest: list[np.ndarray]  #: per block, positions of its other parameters


def hyper_blocks(model: pm.Model, hyper: Sequence[str],
                 block_dim: str | None = None) -> HyperBlocks:
    """Return the blocks of ``model``'s raveled parameters.

    Parameters
    ----------
    model
        The PyMC model.
    hyper
        Names of the free variables that are hyperparameters (those the model lacks are
        ignored).
    block_dim
        The dimension along which the posterior factorises into blocks. Used only when every
        free variable has it among its dims; otherwise there is one block.
    """
    names = [model.values_to_rvs[v].name for v in model.value_vars]
    rows, _ = value_blocks(model, model.initial_point(), block_dim)
    theta = np.concatenate([r for n, r in zip(names, rows, strict=True) if n in hyper], axis=1)
    rest = np.concatenate([r for n, r in zip(names, rows, strict=True) if n not in hyper], axis=1)
    return HyperBlocks(theta, list(rest))


class Conditional:
    """Conditional modes of the other parameters given ``θ``, block by block in lockstep."""

    def __init__(self, model: pm.Model, point: dict, blocks: HyperBlocks,
                 layout: HessianLayout, value_and_gradient: GradientFunction):
        self.vg = value_and_gradient
        self.blocks = blocks
        size = int(sum(np.size(point[v.name]) for v in model.value_vars))
        self.x_index = np.setdiff1d(np.arange(size), blocks.theta.ravel())
        position = np.full(size, -1)
        position[self.x_index] = np.arange(self.x_index.size)
        glob = layout.global_index[np.isin(layout.global_index, self.x_index)]
        local = layout.local_index
        self.layout = HessianLayout(position[glob], position[local] if local.size else local)
        self.block_x = [position[r] for r in blocks.rest]
        self.reference: np.ndarray | None = None
        self.gradients = 0

    def evaluate(self, theta: np.ndarray, start: np.ndarray) -> dict[str, Any]:
        """Return ``log π̃`` per block at ``theta`` ``(blocks, d)`` and the Gaussians given it.

        Raises ApproximationError if the conditional mode is not found.
        """
        full = np.empty(self.x_index.size + theta.size)
        full[self.blocks.theta.ravel()] = theta.ravel()

        def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
            self.gradients += 1
            full[self.x_index] = x
            value, grad = self.vg(full)
            return float(value), np.asarray(grad)[self.x_index]

        x_hat, value, h_xx = self._newton(value_and_gradient, start)
        full[self.x_index] = x_hat
        vector = full.copy()
        if self.reference is None:
            self.reference = vector.copy()
        # How the conditional mode moves with θ: blocks share nothing, so the j-th θ of every
        # block is perturbed at once.
        h_xt = np.zeros((theta.shape[0], x_hat.size, theta.shape[1]))
        for j in range(theta.shape[1]):
            shift = np.zeros_like(vector)
            shift[self.blocks.theta[:, j]] = _GRADIENT_STEP
            diff = (np.asarray(self.vg(vector + shift)[1]) - np.asarray(self.vg(vector - shift)[1]))
            self.gradients += 2
            h_xt[:, :, j] = diff[self.x_index] / (2 * _GRADIENT_STEP)
        out: dict[str, Any] = {"x": x_hat, "log_marginal": [], "cholesky": [], "slope": []}
        for b, bx in enumerate(self.block_x):
            precision = -h_xx[np.ix_(bx, bx)]
            try:
                chol = linalg.cholesky(precision, lower=True)
            except linalg.LinAlgError:
                raise ApproximationError("the conditional Hessian is not negative definite") \
                    from None
            if len(self.block_x) == 1:
                log_p = value
            else:   # block b at (θ_b, x̂_b), the others at the reference point
                mixed = self.reference.copy()
                own = np.concatenate([self.blocks.theta[b], self.blocks.rest[b]])
                mixed[own] = vector[own]
                log_p = float(self.vg(mixed)[0])
            out["log_marginal"].append(log_p - np.sum(np.log(np.diag(chol))))
            out["cholesky"].append(chol)
            out["slope"].append(linalg.cho_solve((chol, True), h_xt[b][bx]))
        out["log_marginal"] = np.array(out["log_marginal"])
        return out

    def _newton(self, value_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]],
                start: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """Return the conditional mode, its log density and Hessian, from a nearby start.

        Newton's method with step halving; :func:`~bayes_needs.models.laplace.find_mode`
        (quasi-Newton first) where that fails, as far from the mode.
        """
        x = start
        value, grad = value_and_gradient(x)
        for _ in range(_NEWTON_ITERATIONS):
            h_xx = hessian(lambda z: value_and_gradient(z)[1], x, self.layout)
            try:
                step = linalg.cho_solve(linalg.cho_factor(-h_xx, lower=True), grad)
            except linalg.LinAlgError:
                break
            if grad @ step < _CONDITIONAL_TOLERANCE:
                return x, value, h_xx
            length = 1.0
            while length > 1e-3:
                trial, trial_grad = value_and_gradient(x + length * step)
                if np.isfinite(trial) and trial > value:
                    x, value, grad = x + length * step, trial, trial_grad
                    break
                length /= 2
            else:
                break
        x_hat, value, h_xx, _, _ = find_mode(value_and_gradient, start, self.layout,
                                             tolerance=_CONDITIONAL_TOLERANCE)
        return x_hat, value, h_xx


def theta_mode(conditional: Conditional, theta: np.ndarray, x: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each block's mode of ``log π̃``, its covariance and the conditional mode there.

    Newton's method on central differences (all blocks at once), steps at most one unit.
    """
    d = theta.shape[1]
    eye = np.eye(d) * _THETA_STEP
    for _ in range(defaults.NESTED_MODE_ITERATIONS):
        centre = conditional.evaluate(theta, x)
        x = centre["x"]
        f0 = centre["log_marginal"]
        plus = [conditional.evaluate(theta + e, x)["log_marginal"] for e in eye]
        minus = [conditional.evaluate(theta - e, x)["log_marginal"] for e in eye]
        grad = np.stack([(p - m) / (2 * _THETA_STEP)
                         for p, m in zip(plus, minus, strict=True)], axis=1)
        hess = np.empty((theta.shape[0], d, d))
        for i in range(d):
            hess[:, i, i] = (plus[i] - 2 * f0 + minus[i]) / _THETA_STEP**2
            for j in range(i):
                both = conditional.evaluate(theta + eye[i] + eye[j], x)["log_marginal"]
                hess[:, i, j] = hess[:, j, i] = (both - plus[i] - plus[j] + f0) / _THETA_STEP**2
        steps = np.stack([_ascent_step(h, g) for h, g in zip(hess, grad, strict=True)])
        theta = theta + steps
        if np.max(np.abs(steps)) < 1e-3:
            break
    covariance = np.stack([_covariance(h) for h in hess])
    return theta, covariance, conditional.evaluate(theta, x)["x"]


def _ascent_step(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Newton step on a concave part, a gradient step elsewhere; at most one unit long."""
    values, vectors = np.linalg.eigh(-hess)
    step = vectors @ ((vectors.T @ grad) / np.maximum(values, 1.0))
    length = np.linalg.norm(step)
    return step if length <= 1.0 else step / length


def _covariance(hess: np.ndarray) -> np.ndarray:
    """Return ``(-hess)^-1``, curvatures floored (a flat direction gets a finite variance)."""
    values, vectors = np.linalg.eigh(-hess)
    return (vectors / np.maximum(values, _LEAST_CURVATURE)) @ vectors.T


@dataclass
class Lattice:
    """One block's explored lattice points and the Gaussians of the other parameters there."""

    theta: list[np.ndarray]
    log_marginal: list[float]
    x: list[np.ndarray]
    cholesky: list[np.ndarray]
    slope: list[np.ndarray]
    kernel: list[np.ndarray]   #: Cholesky factors of the θ kernels' covariances
    #: Log volume of each point's lattice cell, relative to the mode's: the spacing grows
    #: away from the mode, so a point stands for more of the marginal there.
    log_volume: list[float]


def explore(conditional: Conditional, mode: np.ndarray, scale: np.ndarray,
             x_mode: np.ndarray) -> list[Lattice]:
    """Explore each block's lattice ``mode + scale @ (step * z)`` outwards from the mode."""
    n_blocks, d = mode.shape
    step = defaults.NESTED_GRID_STEP
    lattices = [Lattice([], [], [], [], [], [], []) for _ in range(n_blocks)]
    stretch = defaults.NESTED_GRID_STRETCH
    origin = (0,) * d
    queues: list[list[tuple[tuple[int, ...], tuple[int, ...]]]] = [[(origin, origin)]
                                                                   for _ in range(n_blocks)]
    seen = [{origin} for _ in range(n_blocks)]
    found: list[dict[tuple[int, ...], int]] = [{} for _ in range(n_blocks)]
    best = np.full(n_blocks, -np.inf)
    while any(queues):
        picks = [q.pop(0) if q else None for q in queues]
        theta, start = mode.copy(), x_mode.copy()
        for b, pick in enumerate(picks):
            if pick is not None:
                theta[b] = mode[b] + scale[b] @ (step * np.sinh(stretch * np.array(pick[0]))
                                                 / stretch)
                if pick[1] in found[b]:   # the parent's conditional mode, moved along J
                    k = found[b][pick[1]]
                    start[conditional.block_x[b]] = lattices[b].x[k] + lattices[b].slope[k] @ (
                        theta[b] - lattices[b].theta[k])
        try:
            node = conditional.evaluate(theta, start)
        except ApproximationError:
            continue   # the point has no conditional mode: not part of the lattice
        for b, pick in enumerate(picks):
            if pick is None or len(found[b]) >= defaults.NESTED_MAX_POINTS:
                continue
            value = float(node["log_marginal"][b])
            found[b][pick[0]] = len(lattices[b].theta)
            lattice = lattices[b]
            lattice.theta.append(theta[b])
            lattice.log_marginal.append(value)
            lattice.x.append(node["x"][conditional.block_x[b]])
            lattice.cholesky.append(node["cholesky"][b])
            lattice.slope.append(node["slope"][b])
            # The kernel grows with the lattice's spacing there.
            widening = np.cosh(stretch * np.array(pick[0]))
            lattice.kernel.append(scale[b] * defaults.NESTED_KERNEL_WIDTH * step * widening)
            lattice.log_volume.append(float(np.sum(np.log(widening))))
            best[b] = max(best[b], value)
            if value > best[b] - defaults.NESTED_LOG_DROP:
                for axis in range(d):
                    for sign in (-1, 1):
                        near = list(pick[0])
                        near[axis] += sign
                        if tuple(near) not in seen[b]:
                            seen[b].add(tuple(near))
                            queues[b].append((tuple(near), pick[0]))
    return lattices
