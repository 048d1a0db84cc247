"""Simulation-based calibration (SBC) of the area demand model.

Each replicate is a pure function of ``(index, base_seed, settings)``:

1. draw every parameter from the priors *through the model itself* (the model built on a
   fixed synthetic geography and observation layout, :func:`pymc.sample_prior_predictive`),
   so priors are resolved exactly as in a real fit;
2. simulate counts with numpy following the model's likelihood (see :func:`simulate_counts`):
   mean-one gamma MSOA effects and Poisson MSOA totals (exactly the marginal negative
   binomial of the model), a Dirichlet-multinomial (or multinomial) split of those totals
   over LSOAs where an LA reports LSOAs, and LA totals from the model's *moment-matched*
   negative binomial where an LA only reports totals (drawn as Poisson given a gamma mean
   effect of the LA's MSOAs, which the true need also uses). The LA likelihood is an approximation
   to a sum of MSOA negative binomials; simulating from it makes SBC test the inference, not
   that approximation (which the recovery test covers);
3. refit with NUTS and rank each prior draw among ``n_rank_draws`` evenly thinned posterior
   draws (Talts et al. 2018). Calibrated inference gives ranks uniform on
   ``0..n_rank_draws``.

Tracked quantities are every element of ``intercept``, ``beta``, ``sigma_la``, ``msoa_cv``
and ``lsoa_dispersion`` and each LA's needs share. The "true" share of a replicate is the
share computed from its prior draw with the same formula as
:meth:`AreaDemandModel.expected_need`: with ``standardise="la"`` (the default) the true gamma
effects of MSOAs with their own counts and, for each LA's other MSOAs, their true
rate-weighted mean effect (the gamma variable its LA total was drawn with); ``"all"`` ignores
MSOA effects, ``"none"`` also keeps the LA effects. The posterior of that quantity is exactly what
``expected_need`` draws, so its ranks are uniform if the fit is calibrated.

Replicates run through :func:`bayes_needs.core.executors.make_executor` (process pool, dask, or in
process). Outputs (:func:`write_sbc`): ``sbc.csv`` (one row per quantity: chi-square
uniformity p-value of the ranks, Holm-adjusted p-value, 50% and 90% central-interval
coverage), ``ranks.csv`` (one row per replicate and quantity), ``replicates.csv``
(convergence per replicate) and ``sbc_ecdf.png`` (rank ECDF differences with 95%
simultaneous bands, from :func:`arviz.plot_ecdf`).
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import ConfigError

SBC_CSV = "sbc.csv"
RANKS_CSV = "ranks.csv"
REPLICATES_CSV = "replicates.csv"
ECDF_PNG = "sbc_ecdf.png"
OUTPUT_FILES = (SBC_CSV, RANKS_CSV, REPLICATES_CSV, ECDF_PNG)

#: Parameters whose every element is a tracked quantity (those present in the model).
TRACKED_PARAMETERS: tuple[str, ...] = ("intercept", "beta", "sigma_la", "msoa_cv",
                                       "lsoa_dispersion")
SHARE = "share"

_SEED_PRIOR, _SEED_DATA, _SEED_FIT, _SEED_NEED, _SEED_TIES = range(5)


@dataclass(frozen=True)
class SBCSettings:
    """What each replicate simulates and how it refits.

    Parameters
    ----------
    scale
        Synthetic geography (see :func:`bayes_needs.simulate.synthetic.generate_geography`).
    services
        Services simulated and fitted.
    covariates
        Covariates of the model (a subset of ``idaci``, ``imd``).
    data_seed
        Seed of the synthetic geography and observation layout, shared by all replicates.
    priors
        Prior file overriding the default area priors (``None``: the defaults).
    model
        :class:`~bayes_needs.models.area.AreaModelConfig` options.
    draws, tune, chains
        NUTS settings per replicate (chains run one after another in each worker). With
        only a handful of LAs ``sigma_la`` mixes slowly (bulk ESS ~0.1 per draw), so the
        default 2 x 1000 draws keep the 99 thinned rank draws close to independent.
    target_accept
        NUTS target acceptance rate.
    n_rank_draws
        Posterior draws each prior draw is ranked among (evenly thinned from
        ``draws * chains``, which must be at least this); ranks run from 0 to this.
    standardise
        Needs standardisation of the tracked shares.
    cost_weights
        Fixed cost weight per service for the shares (``None``: the pipeline defaults).
    """

    scale: str = "tiny"
    services: tuple[str, ...] = (dims.CIN, dims.CLA)
    covariates: tuple[str, ...] = ("idaci",)
    data_seed: int = 0
    priors: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    draws: int = 1000
    tune: int = 500
    chains: int = 2
    target_accept: float = 0.9
    n_rank_draws: int = 99
    standardise: Literal["la", "none", "all"] = "la"
    cost_weights: dict[str, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", tuple(self.services))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        for name in ("draws", "tune", "chains", "n_rank_draws"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"SBC {name} must be a whole number >= 1, got {value!r}")
        if self.draws * self.chains < self.n_rank_draws:
            raise ConfigError(f"SBC needs draws x chains >= n_rank_draws to thin from, got "
                              f"{self.draws} x {self.chains} < {self.n_rank_draws}")
        if self.standardise not in ("la", "none", "all"):
            raise ConfigError(f"standardise must be 'la', 'none' or 'all', got "
                              f"{self.standardise!r}")
        if not 0 < self.target_accept < 1:
            raise ConfigError(f"target_accept must be in (0, 1), got {self.target_accept!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping."""
        out = asdict(self)
        out["services"], out["covariates"] = list(self.services), list(self.covariates)
        return out


@dataclass
class SBCResult:
    """Outcome of :func:`run_sbc`.

    Attributes
    ----------
    summary
        One row per quantity (the contents of ``sbc.csv``).
    ranks
        Long table ``replicate, quantity, rank, inside_50, inside_90``.
    replicates
        One row per replicate: seeds, convergence, wall time and any error.
    settings
        The settings used.
    """

    summary: pd.DataFrame
    ranks: pd.DataFrame
    replicates: pd.DataFrame
    settings: SBCSettings


# ====================================================================== one replicate
def _seed(base_seed: int, index: int, stage: int) -> int:
    """An independent 32-bit seed per (base seed, replicate, stage)."""
    return int(np.random.SeedSequence([base_seed, index, stage]).generate_state(1)[0])


def _template(settings: SBCSettings):
    """The model on the fixed synthetic geography and observation layout."""
    from bayes_needs.models.area import AreaDemandModel
    from bayes_needs.simulate.synthetic import generate_area

    data = generate_area(settings.scale, random_seed=settings.data_seed,
                         services=settings.services).data
    config = {**settings.model, "covariates": list(settings.covariates)}
    return AreaDemandModel(data, config, priors=settings.priors)


def draw_prior(model, random_seed: int) -> dict[str, xr.DataArray]:
    """One joint prior draw of the model's parameters and LA effects (no chain/draw dims)."""
    import pymc as pm

    pm_model = model.model or model.build_model()
    names = [v for v in (*TRACKED_PARAMETERS, "la_effect")
             if v in pm_model.named_vars]
    prior = pm.sample_prior_predictive(draws=1, model=pm_model, var_names=names,
                                       random_seed=random_seed).prior
    return {name: prior[name].isel({dims.CHAIN: 0, dims.DRAW: 0}, drop=True)
            for name in names}


def _log_gamma(shape: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """log of Gamma(shape, 1) draws without underflow for tiny shapes (-inf for shape 0):
    ``log G(a) = log G(a + 1) + log(U) / a``."""
    shape = np.asarray(shape, dtype=float)
    uniform = rng.random(shape.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(rng.gamma(shape + 1.0)) + np.log(uniform) / shape
    return np.where(shape > 0, out, -np.inf)


class SimulatedCounts(NamedTuple):
    """One simulated data set (arrays are (unit, service) in canonical geography order).

    Attributes
    ----------
    observations
        Like ``AreaData.observations`` (the template's layout) with simulated counts.
    msoa_effect
        True mean-one gamma MSOA effects (all ones when the model has no MSOA effects); used
        for MSOAs with their own counts.
    rest_effect
        (la, service) true rate-weighted mean effect of each LA's MSOAs without their own
        counts: gamma with the moment-matched shape, the quantity LA totals are drawn from
        and :meth:`AreaDemandModel.expected_need` draws.
    lsoa_count, msoa_total, la_total
        Simulated counts of every unit: LSOA splits of the MSOA totals, MSOA totals, and LA
        totals from the moment-matched negative binomial. Only the units in
        ``observations`` are used.
    """

    observations: pd.DataFrame
    msoa_effect: np.ndarray
    rest_effect: np.ndarray
    lsoa_count: np.ndarray
    msoa_total: np.ndarray
    la_total: np.ndarray


def simulate_counts(model, params: dict[str, xr.DataArray], random_seed: int
                    ) -> SimulatedCounts:
    """Counts at the observation layout of ``model.data`` following the model's likelihood
    (see the module docstring) for the parameter draw ``params``."""
    from bayes_needs.core.segments import multinomial_split

    data, cfg = model.data, model.config
    geo = data.geography
    rng = np.random.default_rng(random_seed)
    n_service = len(model.services)
    eta = np.broadcast_to(params["intercept"].to_numpy()[None, :], (geo.n_lsoa, n_service))
    if model.covariate_names:
        beta = params["beta"].transpose(dims.SERVICE, dims.COVARIATE).to_numpy()
        eta = eta + model.z @ beta.T
    lam = data.exposure[:, None] * np.exp(eta)  # (lsoa, service)
    lam_msoa = geo.aggregate(lam.T, dims.LSOA, dims.MSOA).T
    la_mult = np.exp(params["la_effect"].transpose(dims.LA, dims.SERVICE).to_numpy()) \
        if "la_effect" in params else np.ones((geo.n_la, n_service))
    if cfg.msoa_effects:
        shape = 1.0 / params["msoa_cv"].to_numpy() ** 2
        g = rng.gamma(np.broadcast_to(shape, lam_msoa.shape), 1.0 / shape)
    else:
        g = np.ones_like(lam_msoa)
    msoa_total = rng.poisson(g * la_mult[geo.msoa_to_la] * lam_msoa)

    lsoa_count = np.empty_like(lam, dtype=np.int64)
    for j in range(n_service):
        if cfg.family == "negbin":
            delta = float(params["lsoa_dispersion"][j]) if "lsoa_dispersion" in params else 1.0
            log_w = _log_gamma(lam[:, j] / delta, rng)
        else:
            with np.errstate(divide="ignore"):
                log_w = np.log(lam[:, j])
        top = pd.Series(log_w).groupby(geo.lsoa_to_msoa).transform("max").to_numpy()
        weight = np.where(np.isfinite(top), np.exp(log_w - top), 0.0)
        lsoa_count[:, j] = multinomial_split(msoa_total[:, j], weight, geo.lsoa_to_msoa, rng)

    # LA totals: the LA-total likelihood's moment-matched negative binomial, drawn as
    # Poisson given the mean effect of the LA's MSOAs without own counts (in an LA that only
    # reports totals, that is all of them).
    unobserved = ~_msoa_observed(model)
    rest = geo.aggregate((lam_msoa * unobserved).T, dims.MSOA, dims.LA).T
    if cfg.msoa_effects:
        rest_sq = geo.aggregate((lam_msoa ** 2 * unobserved).T, dims.MSOA, dims.LA).T
        alpha = shape[None, :] * np.divide(rest ** 2, rest_sq, out=np.ones_like(rest),
                                           where=rest_sq > 0)
        rest_effect = rng.gamma(alpha, 1.0 / alpha)
    else:
        rest_effect = np.ones_like(rest)
    own = geo.aggregate((g * lam_msoa * ~unobserved).T, dims.MSOA, dims.LA).T
    la_total = rng.poisson(la_mult * (own + rest_effect * rest))

    obs = data.observations.copy()
    by_level = {dims.LSOA: lsoa_count, dims.MSOA: msoa_total, dims.LA: la_total}
    counts = np.empty(len(obs), dtype=np.int64)
    for (service, level), rows in obs.groupby(["service", "level"]).groups.items():
        pos = geo.position(level, obs.loc[rows, "area_code"].to_numpy())
        counts[obs.index.get_indexer(rows)] = by_level[level][pos, model.services.index(service)]
    obs["count"] = counts
    return SimulatedCounts(obs, g, rest_effect, lsoa_count, msoa_total, la_total)


def _msoa_observed(model) -> np.ndarray:
    """(msoa, service) mask of MSOAs with their own counts (MSOA or LSOA level)."""
    observed = np.zeros((model.data.geography.n_msoa, len(model.services)), dtype=bool)
    for j, service in enumerate(model.services):
        observed[model._observations[service].msoa_pos, j] = True
    return observed


def true_need(model, params: dict[str, xr.DataArray], simulated: SimulatedCounts,
              standardise: str) -> np.ndarray:
    """Needs (la, service) of a prior draw, by the formula of ``expected_need``: true gamma
    effects of MSOAs with their own counts plus, for each LA's other MSOAs, their true mean
    effect (see the module docstring)."""
    data, cfg = model.data, model.config
    geo = data.geography
    eta = params["intercept"].to_numpy()[None, :]
    if model.covariate_names:
        eta = eta + model.z @ params["beta"].transpose(dims.SERVICE, dims.COVARIATE) \
            .to_numpy().T
    lam_msoa = geo.aggregate((data.exposure[:, None] * np.exp(eta)).T, dims.LSOA,
                             dims.MSOA).T
    observed = _msoa_observed(model)
    own = geo.aggregate((simulated.msoa_effect * lam_msoa * observed).T, dims.MSOA, dims.LA).T
    rest = geo.aggregate((lam_msoa * ~observed).T, dims.MSOA, dims.LA).T
    small_area = own + simulated.rest_effect * rest
    if cfg.la_effects:
        sigma = params["sigma_la"].to_numpy()
        la_mult = np.exp(params["la_effect"].transpose(dims.LA, dims.SERVICE).to_numpy())
    else:
        sigma, la_mult = np.zeros(len(model.services)), np.ones_like(small_area)
    correction = np.exp(sigma ** 2 / 2.0)[None, :]
    if standardise == "la":
        return small_area * correction
    if standardise == "none":
        return small_area * la_mult
    return geo.aggregate(lam_msoa.T, dims.MSOA, dims.LA).T * correction


def _shares(need: xr.DataArray, weights: dict[str, float]) -> xr.DataArray:
    from bayes_needs.allocation import allocate

    return allocate(need, weights).draws["share"]


def _cost_weights(settings: SBCSettings) -> dict[str, float]:

    weights = settings.cost_weights or defaults.COST_WEIGHTS
    missing = sorted(set(settings.services) - set(weights))
    if missing:
        raise ConfigError(f"SBC cost_weights has no weight for service(s) {missing}")
    return {s: float(weights[s]) for s in settings.services}


def _flatten(values: xr.DataArray, name: str) -> tuple[list[str], np.ndarray]:
    """Labels ``name[a,b]`` and a (sample, element) array of draws over the non-sample dims."""
    sample_dims = [d for d in (dims.CHAIN, dims.DRAW) if d in values.dims]
    other = [d for d in values.dims if d not in sample_dims]
    values = values.transpose(*sample_dims, *other)
    labels = [name] if not other else [
        f"{name}[{','.join(str(v) for v in combo)}]"
        for combo in pd.MultiIndex.from_product([values[d].values for d in other])]
    n_sample = int(np.prod([values.sizes[d] for d in sample_dims])) if sample_dims else 1
    return labels, values.to_numpy().reshape(n_sample, -1)


def run_replicate(index: int, base_seed: int, settings: SBCSettings) -> dict[str, Any]:
    """Simulate, refit and rank one replicate (a pure function of its arguments).

    Returns
    -------
    dict
        ``index``, ``ranks``/``inside_50``/``inside_90`` (quantity -> value) and
        ``diagnostics``. A replicate whose fit fails returns ``error`` instead of ranks, so
        one failure does not discard the others (the summary reports it).
    """
    _quiet_worker()
    from bayes_needs.core import idata as idata_io
    from bayes_needs.data.containers import AreaData
    from bayes_needs.models.area import AreaDemandModel

    start = time.perf_counter()
    seeds = {stage: _seed(base_seed, index, stage) for stage in range(5)}
    diagnostics: dict[str, Any] = {"replicate": index, "base_seed": base_seed,
                                   "fit_seed": seeds[_SEED_FIT]}
    template = _template(settings)
    params = draw_prior(template, seeds[_SEED_PRIOR])
    simulated = simulate_counts(template, params, seeds[_SEED_DATA])
    t = template.data
    data = AreaData(t.geography, t.covariates, t.exposure, simulated.observations, t.services,
                    t.year, f"SBC replicate {index} (base seed {base_seed})")
    model = AreaDemandModel(data, template.config, priors=template.priors)
    try:
        idata = model.fit(random_seed=seeds[_SEED_FIT], draws=settings.draws,
                          tune=settings.tune, chains=settings.chains, cores=1,
                          target_accept=settings.target_accept, progressbar=False,
                          compute_convergence_checks=False)
    except Exception as exc:  # a failed fit is recorded, not fatal to the whole run
        diagnostics.update(error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                           seconds=time.perf_counter() - start)
        return {"index": index, "ranks": {}, "inside_50": {}, "inside_90": {},
                "diagnostics": diagnostics}
    post = idata_io.posterior(idata)
    n_total = post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]
    thin = n_total // settings.n_rank_draws
    keep = np.arange(settings.n_rank_draws) * thin

    draws: dict[str, np.ndarray] = {}
    truths: dict[str, float] = {}
    for name in TRACKED_PARAMETERS:
        if name in post and name in params:
            labels, values = _flatten(post[name], name)
            _, truth = _flatten(params[name], name)
            for k, label in enumerate(labels):
                draws[label], truths[label] = values[:, k], float(truth[0, k])
    need = model.expected_need(idata, random_seed=seeds[_SEED_NEED],
                               standardise=settings.standardise)["need"]
    weights = _cost_weights(settings)
    truth_need = xr.DataArray(
        true_need(model, params, simulated, settings.standardise)[None, None],
        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
        coords={dims.LA: need[dims.LA].values, dims.SERVICE: list(model.services)})
    labels, share_draws = _flatten(_shares(need, weights), SHARE)
    _, share_truth = _flatten(_shares(truth_need, weights), SHARE)
    for k, label in enumerate(labels):
        draws[label], truths[label] = share_draws[:, k], float(share_truth[0, k])

    tie_rng = np.random.default_rng(seeds[_SEED_TIES])
    ranks, inside_50, inside_90 = {}, {}, {}
    for label, values in draws.items():
        truth, thinned = truths[label], values[keep]
        ties = int((thinned == truth).sum())
        ranks[label] = int((thinned < truth).sum()) + int(tie_rng.integers(0, ties + 1))
        q = np.quantile(values, [0.05, 0.25, 0.75, 0.95])
        inside_50[label] = bool(q[1] <= truth <= q[2])
        inside_90[label] = bool(q[0] <= truth <= q[3])

    conv = idata_io.convergence_summary(idata, [n for n in TRACKED_PARAMETERS if n in post])
    diagnostics.update(rhat_max=conv["rhat_max"], ess_bulk_min=conv["ess_bulk_min"],
                       ess_tail_min=conv["ess_tail_min"], divergences=conv["divergences"],
                       thin=thin, seconds=time.perf_counter() - start, error="")
    return {"index": index, "ranks": ranks, "inside_50": inside_50, "inside_90": inside_90,
            "diagnostics": diagnostics}


def _quiet_worker() -> None:
    """Keep worker output to errors: per-replicate sampler chatter is noise in a batch."""
    import pymc  # noqa: F401  (importing pymc resets its logger level, so import first)

    for name in ("pymc", "pymc.sampling.mcmc", "pytensor.tensor.blas"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*at least 4 chains.*")
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    warnings.filterwarnings("ignore", message=".*divergen.*")
    # NaN log densities on rejected NUTS trajectories; divergences are counted instead.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pytensor.*")


# ====================================================================== the batch
def run_sbc(settings: SBCSettings, *, n_sims: int, base_seed: int,
            executor: Executor | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None) -> SBCResult:
    """Run ``n_sims`` replicates through ``executor`` and summarise their ranks.

    Parameters
    ----------
    settings
        What to simulate and how to refit.
    n_sims
        Number of replicates.
    base_seed
        Replicate ``i`` depends only on ``(i, base_seed, settings)``, so results do not
        depend on the executor or the order replicates finish in.
    executor
        Where replicates run (default: in this process). See
        :func:`bayes_needs.core.executors.make_executor`.
    progress
        Called with each finished replicate's diagnostics.
    """
    if isinstance(n_sims, bool) or not isinstance(n_sims, int) or n_sims < 1:
        raise ConfigError(f"n_sims must be a whole number >= 1, got {n_sims!r}")
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise ConfigError(f"seed must be a non-negative whole number, got {base_seed!r}")
    _cost_weights(settings)  # fail before any replicate runs
    if executor is None:
        from bayes_needs.core.executors import SerialExecutor

        executor = SerialExecutor()
    futures = [executor.submit(run_replicate, i, base_seed, settings) for i in range(n_sims)]
    results = []
    try:
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            if progress is not None:
                progress(result["diagnostics"])
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    results.sort(key=lambda r: r["index"])
    return summarise(results, settings)


def summarise(results: Sequence[dict[str, Any]], settings: SBCSettings) -> SBCResult:
    """Rank tables and the per-quantity summary of replicate results."""
    rows = [{"replicate": r["index"], "quantity": q, "rank": rank,
             "inside_50": r["inside_50"][q], "inside_90": r["inside_90"][q]}
            for r in results for q, rank in r["ranks"].items()]
    ranks = pd.DataFrame(rows, columns=["replicate", "quantity", "rank", "inside_50",
                                        "inside_90"])
    replicates = pd.DataFrame([r["diagnostics"] for r in results])
    order = list(dict.fromkeys(ranks["quantity"]))
    summary_rows = []
    for quantity in order:
        group = ranks[ranks["quantity"] == quantity]
        values = group["rank"].to_numpy()
        summary_rows.append({
            "quantity": quantity,
            "n_sims": len(values),
            "n_rank_draws": settings.n_rank_draws,
            "mean_rank_fraction": float(values.mean() / settings.n_rank_draws),
            "p_value": rank_uniformity_pvalue(values, settings.n_rank_draws),
            "coverage_50": float(group["inside_50"].mean()),
            "coverage_90": float(group["inside_90"].mean()),
        })
    summary = pd.DataFrame(summary_rows, columns=["quantity", "n_sims", "n_rank_draws",
                                                  "mean_rank_fraction", "p_value",
                                                  "coverage_50", "coverage_90"])
    summary.insert(5, "p_value_holm", holm(summary["p_value"].to_numpy()))
    return SBCResult(summary, ranks, replicates, settings)


def rank_bins(n_sims: int, n_rank_draws: int) -> int:
    """Histogram bins for the uniformity test: about 5+ expected ranks per bin, at most 20."""
    return int(max(2, min(20, n_sims // 5, n_rank_draws + 1)))


def rank_uniformity_pvalue(ranks: np.ndarray, n_rank_draws: int,
                           n_bins: int | None = None) -> float:
    """Chi-square p-value of ranks in ``0..n_rank_draws`` against the discrete uniform.

    Ranks are grouped into ``n_bins`` contiguous bins (default :func:`rank_bins`); a bin's
    expected count is exactly proportional to the number of rank values it holds, so
    unequal bins are handled exactly.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    n_values = n_rank_draws + 1
    if len(ranks) == 0:
        return float("nan")
    if ranks.min() < 0 or ranks.max() > n_rank_draws:
        raise ValueError(f"ranks must lie in 0..{n_rank_draws}")
    n_bins = n_bins or rank_bins(len(ranks), n_rank_draws)
    edges = np.floor(np.linspace(0, n_values, n_bins + 1)).astype(np.int64)
    observed = np.histogram(ranks, bins=edges)[0]
    expected = len(ranks) * np.diff(edges) / n_values
    return float(stats.chisquare(observed, expected).pvalue)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error over all tracked quantities)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty_like(p)
    out[order] = adjusted
    return out


# ====================================================================== outputs
def plot_rank_ecdf(ranks: pd.DataFrame, n_rank_draws: int, *, random_seed: int = 0,
                   ncols: int = 6):
    """ECDF-difference plots of the ranks of each quantity against the discrete uniform,
    with 95% simultaneous confidence bands (:func:`arviz.plot_ecdf`). Returns the figure."""
    import arviz as az
    from matplotlib.figure import Figure

    quantities = list(dict.fromkeys(ranks["quantity"]))
    nrows = max(1, math.ceil(len(quantities) / ncols))
    fig = Figure(figsize=(2.6 * ncols, 2.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    uniform = stats.randint(0, n_rank_draws + 1)
    points = np.arange(n_rank_draws + 1)
    for ax, quantity in zip(axes, quantities, strict=False):
        values = ranks.loc[ranks["quantity"] == quantity, "rank"].to_numpy(copy=True)
        az.plot_ecdf(values, cdf=uniform.cdf, rvs=uniform.rvs, eval_points=points,
                     difference=True, confidence_bands="simulated", ci_prob=0.95,
                     random_state=random_seed, ax=ax, show=False)
        ax.set_title(quantity, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes[len(quantities):]:
        ax.set_axis_off()
    fig.suptitle(f"SBC rank ECDF - uniform (95% simultaneous bands), "
                 f"{ranks['replicate'].nunique()} replicates", fontsize=9)
    return fig


def write_sbc(result: SBCResult, out_dir: str | Path) -> list[Path]:
    """Write ``sbc.csv``, ``ranks.csv``, ``replicates.csv`` and ``sbc_ecdf.png`` as one set
    (all or none, see :func:`bayes_needs.core.outputs.output_set`)."""
    from bayes_needs.core.outputs import output_set, write_atomic, write_csv

    out_dir = Path(out_dir)
    n_sims = int(result.summary["n_sims"].max()) if len(result.summary) else 0
    settings = ", ".join(f"{k}={v}" for k, v in result.settings.to_dict().items())
    comment = (f"simulation-based calibration of the area model; {settings}\n"
               f"p_value: chi-square test of rank uniformity "
               f"({rank_bins(n_sims, result.settings.n_rank_draws)} bins); "
               f"p_value_holm: Holm-adjusted over all {len(result.summary)} quantities")
    with output_set(out_dir) as staging:
        write_csv(staging / SBC_CSV, result.summary, comment=comment)
        write_csv(staging / RANKS_CSV, result.ranks)
        write_csv(staging / REPLICATES_CSV, result.replicates)
        if len(result.ranks):
            figure = plot_rank_ecdf(result.ranks, result.settings.n_rank_draws)
            write_atomic(staging / ECDF_PNG,
                         lambda path: figure.savefig(path, format="png", dpi=110))
    return [out_dir / name for name in OUTPUT_FILES]


def print_progress(diagnostics: dict[str, Any]) -> None:
    """One stderr line per finished replicate."""
    if diagnostics.get("error"):
        line = f"failed: {diagnostics['error']}"
    else:
        line = (f"max R-hat {diagnostics['rhat_max']:.3f}, min bulk ESS "
                f"{diagnostics['ess_bulk_min']:.0f}, divergences {diagnostics['divergences']}")
    print(f"  replicate {diagnostics['replicate']}: {line} ({diagnostics['seconds']:.0f} s)",
          file=sys.stderr, flush=True)
