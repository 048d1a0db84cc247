"""Approximate posterior: a Laplace approximation checked by Pareto-smoothed importance sampling.

The posterior of a model's unconstrained parameters ``x`` is approximated by the Gaussian
``q = N(mode, H^-1)``, ``H`` the negative Hessian of the log density at its mode. Its quality
is measured against the exact log density: each draw's importance ratio ``p(x) / q(x)`` is
Pareto-smoothed (Vehtari et al. 2024, PSIS) and the shape ``k̂`` of the fitted tail says how
far the approximation can be trusted (Yao et al. 2018): below 0.5 it is good, up to 0.7
usable, above 0.7 the importance weights have no reliable mean and the convergence gate
refuses the fit. The draws handed on are resampled with the smoothed weights (importance
resampling), so a moderate skew the Gaussian misses is corrected.

How the approximation is made:

* the mode: L-BFGS from the model's start values, then Newton's method with a Hessian from
  finite differences of the compiled gradient, structured by the models' local parameters
  (:mod:`bayes_needs.models.laplace_mode`);
* the recentring: the joint mode of a hierarchical model is not its mean along the
  hyperparameters (the Laplace approximation's known bias, which INLA removes by integrating
  the hyperparameters over a grid). Here the global parameters are moved by the covariance
  of a pilot's draws with their log importance ratios (Stein's lemma: for a Gaussian
  proposal and a log ratio linear in ``x`` that is exactly the shift of the mean), and the
  local ones by their regression on the globals; the recentred proposal is kept when its
  ``k̂`` is smaller than the pilot's (both over the pilot's number of draws, since k̂'s
  estimate depends on it). The pilot is :data:`PILOT_FRACTION` of the draws handed on, the
  recentred round the rest;
* where the posterior factorises into blocks (a model's ``BLOCK_DIM``, an area model's
  services; :func:`~bayes_needs.models.laplace_functions.block_terms`), all of this is done
  block by block: each block's log ratios are its own term of the log density over its own
  Gaussian, it is recentred, weighted and resampled on its own, and the fit's ``k̂`` is the
  largest block's, its ESS the smallest. Every round's draws are weighted against the
  mixture of the rounds' Gaussians (:mod:`bayes_needs.models.laplace_importance`);
* more draws of the approximation are weighted while a block's effective sample size is
  under half the draws handed on, as many as the ESS so far says are needed (at most
  :data:`MAX_PROPOSALS` times as many draws in all);
* the compiled functions are kept for the next fit of the same model
  (:mod:`bayes_needs.models.laplace_functions`), and the linear algebra runs on one BLAS
  thread: on a loaded 2-core machine a threaded Cholesky factor of England's 628 x 628
  precision took 0.28 s against 0.009 s on one thread.

Why this and not an alternative (measured on the real England 2024 LA totals, 4 services,
628 unconstrained parameters, and on synthetic region data, 5 services, 12 LAs; 2 cores):

* pymc-extras' ``fit_laplace`` (mode by L-BFGS, Hessian by autodiff of the gradient) took
  25 s on England; ``scipy``'s ``trust-exact`` Newton spent a second per iteration in its
  subproblem solver;
* the plain Laplace approximation at the mode: England ``k̂`` 0.70 with an importance ESS of
  261 of 2,000 draws, too close to the gate; with the recentring 0.26-0.32 and ESS about
  1,000. On the region, where the MSOA coefficients of variation have the heavy left tail
  of a scale near zero on the log scale, ``k̂`` 0.56-0.65 with ESS 600-1,200 from up to
  8,000 draws;
* Student-t proposals (multivariate, 30 or 100 degrees of freedom) lowered England's ``k̂``
  to 0.49-0.52 but cut the ESS to 99-168, and heavy tails on the global coordinates alone
  defeat the recentring (which assumes a Gaussian proposal);
* shares agree with NUTS (England: largest difference of mean shares 0.004 percentage
  points, median ratio of 90% interval widths 0.98-1.03; region 0.02 points and 0.99), so a
  nested (INLA-style) approximation was not needed where ``k̂`` is small, and the diagnostic
  says where it is not.
* the pilot's size (three seeds each, 2 x 1,000 draws handed on, loaded machine): with
  pilots of 1.0, 0.5 and 0.25 of the draws, England's ``k̂`` was 0.32-0.38, 0.20-0.49 and
  0.05-0.42, the region's 0.57-0.76, 0.38-0.52 and 0.59-0.69 (a small pilot estimates the
  shift too roughly there, and more rounds follow); half is kept. Where the time goes is the
  number of exact log densities: each evaluates the LSOA-level rates, about 1 ms on England
  (:mod:`bayes_needs.models.laplace_functions`).
* weighting the whole posterior at once (before the blocks; same seeds, loaded machine):
  England 3,000 exact log densities (a pilot of 1,000 and a recentred round of 2,000 of which
  only the second was used), ``k̂`` 0.07 and ESS 1,024; block by block with every round
  weighted, 2,000, largest block ``k̂`` 0.48 and smallest ESS 1,240. The region: 5,692
  against 3,663, ``k̂`` 0.52 against 0.61, ESS 1,311 against 1,512.

A model declares its local parameters (:attr:`~bayes_needs.models.base.FittableModel.LOCAL`);
without a declaration the Hessian is dense (2 gradients per parameter), which suits the
panel model's few hyperparameters.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
from pymc.blocking import DictToArrayBijection
from scipy import linalg
from threadpoolctl import threadpool_limits

from bayes_needs.models.laplace_functions import (
    BlockSpec,
    DensityFunctions,
    density_functions,
)
from bayes_needs.models.laplace_importance import Importance, Proposals, psis
from bayes_needs.models.laplace_mode import (
    ApproximationError,
    GradientFunction,
    HessianLayout,
    find_mode,
    hessian,
    layout_for,
)

__all__ = ["MAX_PROPOSALS", "PILOT_FRACTION", "ApproximationError", "GradientFunction",
           "HessianLayout", "LaplaceResult", "find_mode", "hessian", "laplace_fit",
           "layout_for"]

#: Most draws of the approximation importance-weighted, per draw handed on: more are drawn
#: while the weights' effective sample size is under half the draws.
MAX_PROPOSALS = 4
#: The pilot's draws at the mode, per draw handed on: they estimate the recentring.
PILOT_FRACTION = 0.5

@dataclass
class LaplaceResult:
    """A Laplace approximation, its importance-resampled draws and their diagnostic."""

    #: Posterior draws (constrained values and deterministics), ``(chain, draw, ...)``.
    draws: dict[str, np.ndarray]
    #: Pareto k̂ of the importance ratios of the approximation's own draws (the largest of
    #: the blocks' where the posterior factorises).
    pareto_k: float
    #: Effective sample size of the smoothed importance weights, before resampling (the
    #: smallest of the blocks').
    importance_ess: float
    #: Draws of the approximation the importance weights were computed on.
    proposals: int
    #: Mode of the log density (unconstrained) and its value.
    mode: np.ndarray
    log_density_at_mode: float
    #: Trust-region iterations and gradient evaluations used to find the mode.
    iterations: int
    gradient_evaluations: int
    #: ``"gaussian"`` (one Gaussian) or ``"nested"`` (:mod:`bayes_needs.models.nested_laplace`,
    #: over ``hyper_points`` hyperparameter points).
    variant: str = "gaussian"
    hyper_points: int = 0
    #: Blocks weighted and resampled on their own (1: the whole posterior at once).
    blocks: int = 1


def laplace_fit(model: pm.Model, *, random_seed: int, draws: int, chains: int,
                local: Mapping[str, int] | None = None,
                start: Mapping[str, Any] | None = None,
                cache_key: Hashable | None = None,
                block_spec: BlockSpec | None = None) -> LaplaceResult:
    """Approximate ``model``'s posterior (see the module docstring).

    Parameters
    ----------
    model
        The PyMC model.
    random_seed
        Seed of the approximation's draws and of the importance resampling.
    draws, chains
        The draws handed on, shaped ``(chains, draws)`` like a sampler's (they are
        independent, so the chains are only a shape).
    local
        Value-variable name -> its group axis, for variables local to one group
        (:func:`layout_for`); ``None``: a dense Hessian.
    start
        Start values of some variables (constrained space; the model's initial point for
        the others).
    cache_key
        What identifies ``model``'s graph, to reuse the functions compiled for an earlier fit
        with the same key (:func:`~bayes_needs.models.laplace_functions.density_functions`);
        ``None``: compile afresh.
    block_spec
        How the posterior factorises, if it does
        (:func:`~bayes_needs.models.laplace_functions.block_terms`): each block is then
        importance-weighted and resampled on its own.

    Returns
    -------
    LaplaceResult
        Draws of every free variable (constrained) and deterministic, with ``k̂``.

    Raises
    ------
    ApproximationError
        If no mode is found or the Hessian there is not negative definite.
    """
    # Threaded BLAS stalls when the cores are busy, and these matrices are small.
    with threadpool_limits(limits=1, user_api="blas"):
        functions = density_functions(model, None, cache_key, block_spec)
        point = _start_point(model, start, functions.initial_point)
        raveled = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars})
        layout = layout_for(model, local, point) if local else \
            HessianLayout.dense(raveled.data.size)
        mode, log_density, mode_hessian, iterations, evaluations = find_mode(
            functions.value_and_gradient, raveled.data, layout)
        rng = np.random.default_rng(random_seed)
        outputs, importance, proposals = _importance_sample(
            functions, mode, mode_hessian, layout, rng, draws * chains)
    return LaplaceResult(
        draws={name: value.reshape(chains, draws, *value.shape[1:])
               for name, value in outputs.items()},
        pareto_k=max(i.pareto_k for i in importance),
        importance_ess=min(i.ess for i in importance), proposals=proposals,
        blocks=len(importance),
        mode=mode, log_density_at_mode=log_density, iterations=iterations,
        gradient_evaluations=evaluations)


def _start_point(model: pm.Model, start: Mapping[str, Any] | None,
                 initial_point: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the model's initial point with ``start``'s (constrained) values put in."""
    point = {name: np.array(value) for name, value in initial_point.items()}
    if start:
        transforms = {model.values_to_rvs[v].name: v for v in model.value_vars}
        for name, value in start.items():
            var = transforms[name]
            transform = model.rvs_to_transforms.get(model.values_to_rvs[var])
            point[var.name] = np.asarray(
                value if transform is None else transform.forward(
                    np.asarray(value, dtype=float)).eval(), dtype=float)
    return point


def _importance_sample(functions: DensityFunctions, mode: np.ndarray,
                       mode_hessian: np.ndarray, layout: HessianLayout,
                       rng: np.random.Generator, total: int
                       ) -> tuple[dict[str, np.ndarray], list[Importance], int]:
    """Return the outputs of ``total`` importance-resampled draws and the weights.

    Also returned: each block's importance weights and the number of proposals. See the
    module docstring.
    """
    blocks = functions.blocks
    # Globals last: the approximation's last whitened coordinates then drive the global
    # parameters alone (the locals' coordinates their conditional deviations).
    glob = layout.global_index
    order = np.concatenate([np.setdiff1d(np.arange(mode.size), glob), glob])
    block_of = np.zeros(mode.size, dtype=int)
    for b, index in enumerate(blocks.index):
        block_of[index] = b
    # The blocks share no term, so their precision entries are zero; a factor of the
    # precision with them zeroed keeps each whitened coordinate within one block.
    precision = np.where(block_of[:, None] == block_of[None, :], -mode_hessian, 0.0)
    try:
        cholesky = linalg.cholesky(precision[np.ix_(order, order)], lower=True)
    except linalg.LinAlgError:
        raise ApproximationError("the Laplace approximation's Hessian is not negative definite "
                                 "at the mode (a parameter is not identified)") from None
    whitened = _Whitened(order, cholesky, np.eye(blocks.count)[block_of[order]])
    table = Proposals(mode, precision, np.eye(blocks.count)[block_of])

    def round_at(centre: np.ndarray, size: int) -> np.ndarray:
        proposals, log_q = whitened.draws(rng, centre, size)
        block_density, outputs = functions.evaluate_blocks(proposals)
        return table.add(centre, proposals, block_density, log_q, outputs)

    pilot_size = max(2, math.ceil(PILOT_FRACTION * total))
    pilot = round_at(mode, pilot_size)
    # The joint mode of a hierarchical model is not its mean along the hyperparameters (the
    # Laplace approximation's known bias). By Stein's lemma the covariance of the draws with
    # their log ratio estimates that shift, from every draw rather than the few that carry the
    # importance weight; the global parameters move by it, the local ones by their
    # regression on the globals.
    pilot_ratio = table.round_log_ratio(pilot, mode)
    shift = sum((_global_shift(table.proposals[pilot], pilot_ratio[:, b], mode, whitened,
                               np.intersect1d(glob, index))
                 for b, index in enumerate(blocks.index)), np.zeros_like(mode))
    shifted = round_at(mode + shift, max(total - pilot_size, 2))
    # Block by block, later rounds are centred where the diagnostic trusts the proposal
    # more (over as many draws: k̂'s estimate depends on their number).
    shifted_ratio = table.round_log_ratio(shifted, mode + shift)
    centre = mode.copy()
    for b, index in enumerate(blocks.index):
        if psis(shifted_ratio[:pilot_size, b]).pareto_k < \
                psis(pilot_ratio[:len(shifted), b]).pareto_k:
            centre[index] += shift[index]
    importance = table.importance(centre)
    # More proposals until each block's weights carry half the draws' worth of information:
    # the ESS grows about in proportion to the draws, so the estimate sizes the next round.
    while min(i.ess for i in importance) < total / 2 and \
            table.size < MAX_PROPOSALS * total:
        wanted = max(math.ceil(1.1 * table.size * (total / 2) / max(i.ess, 1.0))
                     for i in importance) - table.size
        round_at(centre, min(max(wanted, total // 4), MAX_PROPOSALS * total - table.size))
        importance = table.importance(centre)
    chosen = [rng.choice(table.size, size=total, p=i.weights) for i in importance]
    return table.resampled(chosen, blocks.output_axes), importance, table.size


@dataclass(frozen=True)
class _Whitened:
    """The approximation ``N(centre, Q^-1)``, drawn as ``x[order] = centre[order] + L^-T z``.

    ``Q = L L^T`` is the precision with the global parameters last.
    """

    order: np.ndarray
    cholesky: np.ndarray
    #: Whitened coordinate -> its block, one-hot ``(coordinates, blocks)``.
    block_of_coordinate: np.ndarray

    def draws(self, rng: np.random.Generator, centre: np.ndarray, total: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``total`` draws and their log density by block, up to a constant.

        The log densities are ``(total, blocks)``.
        """
        z = rng.standard_normal((total, centre.size))
        out = np.empty_like(z)
        out[:, self.order] = centre[self.order] + linalg.solve_triangular(
            self.cholesky.T, z.T, lower=False).T
        return out, -0.5 * (z**2) @ self.block_of_coordinate

    def covariance_columns(self, columns: np.ndarray) -> np.ndarray:
        """Return the columns ``columns`` of the approximation's covariance ``Q^-1``."""
        position = np.empty_like(self.order)
        position[self.order] = np.arange(self.order.size)
        unit = np.zeros((self.order.size, columns.size))
        unit[position[columns], np.arange(columns.size)] = 1.0
        return linalg.cho_solve((self.cholesky, True), unit)[position]


def _global_shift(proposals: np.ndarray, log_ratio: np.ndarray, mode: np.ndarray,
                  whitened: _Whitened, glob: np.ndarray) -> np.ndarray:
    """Return the approximation's mean correction (see :func:`laplace_fit`)."""
    usable = np.isfinite(log_ratio)
    if glob.size == 0 or usable.sum() < 2:
        return np.zeros_like(mode)
    centred = log_ratio[usable] - log_ratio[usable].mean()
    shift_global = (proposals[usable][:, glob] - mode[glob]).T @ centred / usable.sum()
    covariance = whitened.covariance_columns(glob)
    return covariance @ np.linalg.solve(covariance[glob], shift_global)
