"""Expected need of the whole child population from a person-model fit.

Need sums each posterior draw's rates over the population cells of the coverage top-up
(:mod:`bayes_needs.data.person.topup`: covered cells re-weighted to ONS child-years, so the unknown
covariates of uncovered children are marginalised over their LA x age x sex distribution).
Standardisation follows the area model: ``"la"`` marginalises LA effects (``exp(sigma_la^2
/ 2)``, or Gauss-Hermite quadrature on the logit scale) and keeps small-area effects,
``"none"`` keeps LA effects, ``"all"`` marginalises small-area effects too. Dirichlet LSOA
effects (``lsoa_effects``) only redistribute an MSOA's total, so need works at MSOA level and
does not use them, exactly as the area model does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.special import expit

from bayes_needs.config.models import Standardisation, check_standardisation
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.data.person.design import child_design
from bayes_needs.models.person import PersonDemandModel


@dataclass
class _Draws:
    """Posterior draws flattened over (chain, draw)."""

    n_chain: int
    n_draw: int
    intercept: np.ndarray
    beta: np.ndarray | None
    gamma: np.ndarray | None
    la_effect: np.ndarray
    sigma_la: np.ndarray
    msoa_shape: np.ndarray | None
    sigma_msoa: np.ndarray | None
    msoa_raw: np.ndarray | None

    @property
    def n(self) -> int:
        """Number of draws over all chains."""
        return self.n_chain * self.n_draw


def _draws(model: PersonDemandModel, idata: az.InferenceData) -> _Draws:
    post = idata_io.posterior(idata)
    n_chain, n_draw = post.sizes[dims.CHAIN], post.sizes[dims.DRAW]
    n_la, n_service = model.data.geography.n_la, len(model.services)

    def flat(name: str, *trailing: str) -> np.ndarray | None:
        if name not in post:
            return None
        values = post[name].transpose(dims.CHAIN, dims.DRAW, *trailing).to_numpy()
        return values.reshape(n_chain * n_draw, *values.shape[2:])

    intercept = flat("intercept", dims.SERVICE)
    if intercept is None:
        raise ConfigError("the fit has no posterior 'intercept': not a person-model fit")
    cfg = model.config
    la_effect = flat("la_effect", dims.LA, dims.SERVICE) if cfg.la_effects else None
    sigma_la = flat("sigma_la", dims.SERVICE) if cfg.la_effects else None
    cv = flat("msoa_cv", dims.SERVICE)
    return _Draws(
        n_chain, n_draw, intercept,
        flat("beta", dims.SERVICE, dims.COVARIATE) if model.covariate_names else None,
        flat("gamma", dims.SERVICE, dims.CHILD_TERM) if model.child_terms else None,
        la_effect if la_effect is not None else np.zeros((n_chain * n_draw, n_la, n_service)),
        sigma_la if sigma_la is not None else np.zeros((n_chain * n_draw, n_service)),
        1.0 / cv**2 if cv is not None and cfg.family != "bernoulli" else None,
        flat("sigma_msoa", dims.SERVICE), flat("msoa_raw", dims.MSOA, dims.SERVICE))


class _Rates:
    """Fixed-part rates ``exp(intercept + z beta + x gamma)``, draw by draw.

    They are summed over sparse (LSOA x pattern) weight matrices.
    """

    def __init__(self, model: PersonDemandModel, draws: _Draws):
        topup = model.data.topup
        self.model, self.draws, self.topup = model, draws, topup
        self.X = child_design(topup.covariates, topup.levels, topup.patterns)[0]
        self.n_pattern = len(topup.patterns)
        geo = model.data.geography
        #: Sparse (MSOA x LSOA) matrix summing LSOAs into their MSOAs.
        self.to_msoa = sp.csr_matrix((np.ones(geo.n_lsoa), (geo.lsoa_to_msoa,
                                                            np.arange(geo.n_lsoa))),
                                     shape=(geo.n_msoa, geo.n_lsoa))

    def fixed(self, sl: slice) -> tuple[np.ndarray, np.ndarray]:
        """Return the log LSOA and log pattern parts of the linear predictor.

        Their shapes are ``(b, lsoa, service)`` and ``(b, pattern, service)``.
        """
        d = self.draws
        a = np.broadcast_to(d.intercept[sl][:, None, :],
                            (d.intercept[sl].shape[0], len(self.model.z),
                             d.intercept.shape[1])).copy()
        if d.beta is not None:
            a += np.einsum("lk,bsk->bls", self.model.z, d.beta[sl])
        G = np.zeros((a.shape[0], self.n_pattern, a.shape[2]))
        if d.gamma is not None:
            G += np.einsum("pt,bst->bps", self.X, d.gamma[sl])
        return a, G

    def msoa_sums(self, sl: slice, matrix: sp.csr_matrix) -> np.ndarray:
        """Sum weight x rate over each MSOA's LSOAs and patterns, ``(block, b, service, msoa)``.

        The rows of ``matrix`` are one or more stacked blocks of all LSOAs. Draws and
        services stay together in the trailing axis of every product, so nothing the size of
        a block is tiled or transposed.
        """
        a, G = self.fixed(sl)
        b, n_lsoa, n_service = a.shape
        weights = np.exp(G).transpose(1, 0, 2).reshape(self.n_pattern, b * n_service)
        blocks = matrix.shape[0] // n_lsoa
        product = np.asarray(matrix @ weights).reshape(blocks, n_lsoa, b * n_service)
        product *= np.exp(a).transpose(1, 0, 2).reshape(n_lsoa, b * n_service)
        to_msoa = self.to_msoa
        summed = np.stack([np.asarray(to_msoa @ block) for block in product])
        return summed.reshape(blocks, to_msoa.shape[0], b, n_service).transpose(0, 2, 3, 1)


def _cell_matrix(model: PersonDemandModel, keep: np.ndarray, weights: np.ndarray, n_pattern: int
                 ) -> sp.csr_matrix:
    cells = model.data.cells
    return sp.csr_matrix((weights[keep], (cells.lsoa[keep], cells.pattern[keep])),
                         shape=(model.data.geography.n_lsoa, n_pattern))


def _frame(model: PersonDemandModel, draws: _Draws, need: np.ndarray, fitted: np.ndarray,
           standardise: str, random_seed: int) -> xr.Dataset:
    geo = model.data.geography
    shape4 = (draws.n_chain, draws.n_draw, geo.n_la, len(model.services))
    coords = {dims.CHAIN: np.arange(draws.n_chain), dims.DRAW: np.arange(draws.n_draw),
              **geo.coords(dims.LA), dims.SERVICE: list(model.services)}
    names = (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
    out = xr.Dataset({"need": (names, need.reshape(shape4)),
                      "fitted": (names, fitted.reshape(shape4))}, coords=coords)
    out["observed"] = (dims.LA, dims.SERVICE), model.data.la_totals().to_numpy()
    # The population need covers; observed and fitted count only the covered children.
    out["exposure"] = (dims.LA,), model.data.topup.la_population().to_numpy()
    out.attrs.update({"standardise": standardise, "random_seed": random_seed,
                      "data_hash": model.data.data_hash(), "approach": "person",
                      "population": "ONS child-years (coverage top-up)"})
    return out


def expected_need(model: PersonDemandModel, idata: az.InferenceData, *, random_seed: int,
                  standardise: Standardisation = "la", chunk_size: int = 32) -> xr.Dataset:
    """Draw expected demand per LA and service for the whole population from a fit.

    Parameters
    ----------
    model
        A :class:`~bayes_needs.models.person.PersonDemandModel` with a population.
    idata
        Its fit.
    random_seed
        Seed for posterior draws of MSOA effects and predictive counts.
    standardise
        ``"la"``, ``"none"`` or ``"all"`` (see the module docstring).
    chunk_size
        Posterior draws processed at once (bounds memory).

    Returns
    -------
    xarray.Dataset
        ``need`` (whole population, full-year) and ``fitted`` (predictive count of the
        covered children, LA effects included) with dims (chain, draw, la, service), and
        ``observed`` (covered children's counts per LA) and ``exposure`` (each LA's ONS
        child-years, the population ``need`` covers).
    """
    check_standardisation(standardise)
    draws = _draws(model, idata)
    rates = _Rates(model, draws)
    if model.config.family == "bernoulli":
        return _binary_need(model, draws, rates, random_seed, standardise, chunk_size)
    geo, cells, n_service = model.data.geography, model.data.cells, len(model.services)
    train = model.train_mask & (cells.exposure > 0)
    matrices = sp.vstack([rates.topup.matrix(),
                          _cell_matrix(model, train, cells.exposure, rates.n_pattern),
                          _cell_matrix(model, np.ones(cells.n_cells, bool), cells.exposure,
                                       rates.n_pattern)]).tocsr()
    y_msoa = np.stack([np.bincount(cells.msoa[train], weights=cells.counts[train, j],
                                   minlength=geo.n_msoa) for j in range(n_service)])
    observed = np.bincount(cells.msoa[train], weights=cells.exposure[train],
                           minlength=geo.n_msoa) > 0
    rng = np.random.default_rng(random_seed)
    need = np.empty((draws.n, geo.n_la, n_service))
    fitted = np.empty_like(need)
    for start in range(0, draws.n, chunk_size):
        sl = slice(start, min(start + chunk_size, draws.n))
        pop, data, covered = rates.msoa_sums(sl, matrices)
        la_mult = np.exp(draws.la_effect[sl][:, geo.msoa_to_la, :].transpose(0, 2, 1))
        g_post = g_pred = np.ones_like(pop)
        if draws.msoa_shape is not None:
            a = draws.msoa_shape[sl][:, :, None]
            drawn = rng.gamma(a + y_msoa[None], 1.0 / (a + observed * la_mult * data))
            g_pred = np.where(observed, drawn, rng.gamma(np.broadcast_to(a, pop.shape), 1.0 / a))
            g_post = np.where(observed, drawn, 1.0)
        correction = np.exp(draws.sigma_la[sl] ** 2 / 2.0)[:, :, None]
        contribution = {"la": g_post * pop * correction, "none": g_post * la_mult * pop,
                        "all": pop * correction}[standardise]
        need[sl] = geo.aggregate(contribution, dims.MSOA, dims.LA).transpose(0, 2, 1)
        mean = geo.aggregate(g_pred * la_mult * covered, dims.MSOA, dims.LA)
        fitted[sl] = rng.poisson(mean).transpose(0, 2, 1)
    return _frame(model, draws, need, fitted, standardise, random_seed)


def la_total_moments(model: PersonDemandModel, idata: az.InferenceData, *,
                     chunk_size: int = 32) -> dict[str, np.ndarray | None]:
    """Compute, per draw, the moments a held-out LA's full-year total is predicted from.

    Parameters
    ----------
    model
        A fitted :class:`~bayes_needs.models.person.PersonDemandModel` (count family).
    idata
        Its fit.
    chunk_size
        Posterior draws processed at once (bounds memory).

    Returns
    -------
    dict
        ``s1`` and ``s2`` ``(sample, la, service)``: sums over the LA's MSOAs of the
        population's expected MSOA count without random effects, and of its square;
        ``shape`` ``(sample, service)``: gamma shape of the MSOA effects (``None`` without
        them); ``sigma`` ``(sample, service)``: sd of the LA effects.
    """
    if model.config.family == "bernoulli":
        raise ConfigError("held-out LA totals are scored for the count families only")
    draws = _draws(model, idata)
    rates = _Rates(model, draws)
    geo, matrix = model.data.geography, rates.topup.matrix()
    s1 = np.empty((draws.n, geo.n_la, len(model.services)))
    s2 = np.empty_like(s1)
    for start in range(0, draws.n, chunk_size):
        sl = slice(start, min(start + chunk_size, draws.n))
        pop = rates.msoa_sums(sl, matrix)[0]
        s1[sl] = geo.aggregate(pop, dims.MSOA, dims.LA).transpose(0, 2, 1)
        s2[sl] = geo.aggregate(pop**2, dims.MSOA, dims.LA).transpose(0, 2, 1)
    return {"s1": s1, "s2": s2, "shape": draws.msoa_shape, "sigma": draws.sigma_la}


def _gh_mean_expit(eta: np.ndarray, sd: np.ndarray, nodes: int) -> np.ndarray:
    """Return ``E[expit(eta + e)]`` for ``e ~ Normal(0, sd)``, by Gauss-Hermite quadrature."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    out = np.zeros(np.broadcast_shapes(eta.shape, sd.shape))
    for xk, wk in zip(x, w, strict=True):
        out += wk * expit(eta + np.sqrt(2.0) * sd * xk)
    return out / np.sqrt(np.pi)


def _binary_probability(parts: dict[str, Any], lsoa, pattern, la, msoa, mode: str,
                        nodes: int) -> np.ndarray:
    """``(b, cell, service)`` probabilities with effects kept or marginalised per ``mode``."""
    eta = parts["a"][:, lsoa] + parts["G"][:, pattern]
    v, v_sd, sigma_u = parts["v"][:, msoa], parts["v_sd"][:, msoa], parts["sigma_u"]
    if mode == "la":
        return _gh_mean_expit(eta + v, np.sqrt(sigma_u**2 + v_sd**2), nodes)
    if mode == "none":
        return _gh_mean_expit(eta + parts["u"][:, la] + v, v_sd, nodes)
    total_sd = np.sqrt(sigma_u**2 + parts["sigma_v"] ** 2)
    return _gh_mean_expit(eta, np.broadcast_to(total_sd, eta.shape), nodes)


def _by_la(values: np.ndarray, la: np.ndarray, n_la: int) -> np.ndarray:
    """Sum ``(b, cell, service)`` values over the cells of each LA -> ``(b, la, service)``."""
    b, _, n_service = values.shape
    out = np.empty((b, n_la, n_service))
    for k in range(b):
        for j in range(n_service):
            out[k, :, j] = np.bincount(la, weights=values[k, :, j], minlength=n_la)
    return out


def _binary_need(model: PersonDemandModel, draws: _Draws, rates: _Rates, random_seed: int,
                 standardise: str, chunk_size: int) -> xr.Dataset:
    geo, cells, topup = model.data.geography, model.data.cells, rates.topup
    n_service, nodes = len(model.services), model.config.quadrature_nodes
    observed = np.zeros(geo.n_msoa, bool)
    observed[model.train.msoa] = True
    rng = np.random.default_rng(random_seed)
    need = np.empty((draws.n, geo.n_la, n_service))
    fitted = np.empty_like(need)
    pop_la, pop_msoa = geo.lsoa_to_la[topup.lsoa], geo.lsoa_to_msoa[topup.lsoa]
    for start in range(0, draws.n, chunk_size):
        sl = slice(start, min(start + chunk_size, draws.n))
        a, G = rates.fixed(sl)
        b = a.shape[0]
        parts: dict[str, Any] = {"a": a, "G": G, "u": draws.la_effect[sl],
                 "sigma_u": draws.sigma_la[sl][:, None, :],
                 "v": np.zeros((b, geo.n_msoa, n_service)),
                 "v_sd": np.zeros((b, geo.n_msoa, n_service)), "sigma_v": 0.0}
        if draws.msoa_raw is not None and draws.sigma_msoa is not None:
            sigma_v = draws.sigma_msoa[sl][:, None, :]
            parts["v"][:, model.train.msoa] = draws.msoa_raw[sl] * sigma_v
            parts["v_sd"] = np.broadcast_to(np.where(observed[None, :, None], 0.0, sigma_v),
                                            parts["v"].shape)
            parts["sigma_v"] = sigma_v
        p = _binary_probability(parts, topup.lsoa, topup.pattern, pop_la, pop_msoa,
                                standardise, nodes)
        need[sl] = _by_la(p * topup.child_years[None, :, None], pop_la, geo.n_la)
        q = _binary_probability(parts, cells.lsoa, cells.pattern, cells.la, cells.msoa,
                                "none", nodes)
        n = cells.children[None, :, None]
        mean, var = _by_la(q * n, cells.la, geo.n_la), _by_la(q * (1 - q) * n, cells.la,
                                                             geo.n_la)
        # Poisson-binomial LA totals: normal approximation, rounded and floored at 0.
        fitted[sl] = np.maximum(np.rint(rng.normal(mean, np.sqrt(var))), 0.0)
    return _frame(model, draws, need, fitted, standardise, random_seed)
