"""Slow calibration test (SBC-style) of the panel model: 90% intervals cover a prior truth.

Each replicate draws every parameter from the priors *through the model itself* (so they
are resolved exactly as in a fit), simulates a synthetic panel from those parameters with
the one numpy generative process (:func:`bayes_needs.simulate.panel.generate_panel`),
refits :class:`~bayes_needs.models.panel.PanelDemandModel` with the same priors, and records
whether each true value lies inside its central (equal-tailed) 90% posterior interval.
When truth and fit share the prior and the inference is exact, the coverage pooled over
replicates is exactly 90% (Talts et al. 2018); what it tests is the inference and its
approximations, not any particular truth.

Truth prior: the defaults of ``priors/panel.toml`` except ``intercept`` (the national log
rate in the last fitted year), narrowed from Normal(-4, 2.5) to Normal(-4, 0.5), the fit
using the same narrowed prior. The default puts ~40% of replicates on a panel with LA-year
counts below 10 (rates of e^-9 per child in LAs of ~10,000 children), where the model's
Gaussian approximation of the Poisson count on the log scale is not meant to hold; with
Normal(-4, 0.5) over 99% of LA-year counts are 10 or more (median ~250). The model's other
options keep their defaults; with ``la_volatility`` each LA's innovation sd is drawn around
``sigma_ar`` with the drawn ``volatility_sd`` (without it the truth has none either), and
with ``volatility_trend`` the sds trend by the drawn ``volatility_trend`` (``sigma_ar`` being
the last fitted year's, as in the fit); with ``count_noise`` counts scatter with the drawn
``count_dispersion`` and innovations gain the drawn ``count_innovation`` per expected count.

Need shares: each LA's share of its service's total expected need in the first forecast
year, from :func:`bayes_needs.need.panel.expected_need`, against the truth's shares from its
log rates in that year. Checked for ``standardise="la"`` (the LA effect removed, the truth
``exp(level + indicators + contextual + d)``) and ``"none"`` (the forecast rate itself),
where the truth is exact. ``"policy_share"`` is not: its removed share is a prior draw
that data never inform, so it is left out. The national level cancels in shares.

Two known approximations remain (not loosened for): the model's Gaussian approximation of
Poisson counts, and its pooling of an LA's LSOAs into at most 32 clusters (tiny LAs have
22-52 LSOAs; at prior draws the pooled needs term is within 1e-4 of the exact one in the
median LA and 0.01 at worst). Neither shows: given the *true* hyperparameters (no NUTS),
the need-share intervals of 100 replicates covered 89.9% ("la") and 90.2% ("none") of 1,600.

Run with ``python -m pytest tests/models/test_panel_recovery.py -m slow -s`` to see the
coverage by parameter and the fits' divergences.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from bayes_needs.core import convergence, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.intervals import credible_interval
from bayes_needs.data.panel import PanelData
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.need.panel import expected_need
from bayes_needs.simulate.panel import PanelTruth, generate_panel

INTERVAL_PROB = 0.9
#: Allowed distance of the pooled coverage from INTERVAL_PROB (issue #15's acceptance point).
TOLERANCE = 0.05
#: Replicates. Each gives 35 parameter elements (national levels 2 x 7; 2 each of sigma_la,
#: rho, sigma_ar, sigma_year, volatility_sd, volatility_trend; 2 x 2 each of beta and
#: beta_contextual; within_ratio) and 8 LAs x 2 services = 16 need shares per
#: standardisation. With R = 40 the binomial sd of a pooled coverage of 90%,
#: sqrt(0.9 * 0.1 / n), is 0.8 pp for the 1,400 parameter elements and 1.2 pp for the 640
#: shares. Elements of one replicate are
#: correlated (the 7 national levels of a service above all: they miss together), so the
#: honest Monte Carlo sd is the sd of the per-replicate coverage / sqrt(R), which the test
#: prints. 24-replicate pilots gave 2.0-3.3 pp for parameters and 1.2-2.7 pp for shares,
#: i.e. 1.6-2.6 pp and 0.9-2.1 pp at R = 40: +-5 pp is 2-3 sd of it, at ~40 s per fit.
N_REPLICATES = 40
N_YEARS = 7
SERVICES = (dims.CIN, dims.CLA)
TRUTH_PRIORS = {"intercept": {"dist": "Normal", "kwargs": {"mu": -4.0, "sigma": 0.5},
                              "dims": [dims.SERVICE]}}
#: The issue's parameters, by model variable name, then those only some model options have
#: (tracked when the model has them: ``volatility_sd`` with ``la_volatility``,
#: ``volatility_trend`` with ``volatility_trend``, the ``count_*`` with ``count_noise``).
PARAMETERS = ("national_level", "sigma_la", "rho", "sigma_ar", "sigma_year", "beta",
              "beta_contextual", "within_ratio")
OPTIONAL_PARAMETERS = ("volatility_sd", "volatility_trend", "count_dispersion",
                       "count_innovation")
STANDARDISATIONS = ("la", "none")
PRIOR_SEED, DATA_SEED = 20_150, 15_000
SAMPLING = {"draws": 300, "tune": 300, "chains": 2}


def prior_draws(n: int, random_seed: int) -> list[dict[str, xr.DataArray]]:
    """Draw ``n`` parameter sets from the truth priors through the model's own graph.

    The priors do not depend on the geography, so one template panel serves every draw.
    """
    template, _ = generate_panel("tiny", n_years=N_YEARS, services=SERVICES,
                                 random_seed=DATA_SEED - 1)
    graph = PanelDemandModel(template, priors=TRUTH_PRIORS).build_model()
    names = [*PARAMETERS, *(name for name in OPTIONAL_PARAMETERS if name in graph.named_vars)]
    with warnings.catch_warnings():
        # Potentials (the likelihood) are ignored in prior sampling, as they should be.
        warnings.simplefilter("ignore", UserWarning)
        prior = idata_io.prior(pm.sample_prior_predictive(
            draws=n, model=graph, var_names=names, random_seed=random_seed))
    assert prior is not None
    return [{name: prior[name].isel({dims.CHAIN: 0, dims.DRAW: r}, drop=True)
             for name in names} for r in range(n)]


def simulator_params(draw: dict[str, xr.DataArray]) -> dict[str, np.ndarray]:
    """The simulator's parameters (per service, in model order) from a prior draw."""
    out = {"level": draw["national_level"].transpose(dims.SERVICE, dims.YEAR).values,
           "beta": draw["beta"].transpose(dims.SERVICE, dims.COVARIATE).values,
           "contextual": draw["beta_contextual"].transpose(dims.SERVICE, dims.COVARIATE).values}
    same = ("sigma_year", "sigma_la", "rho", "sigma_ar", *OPTIONAL_PARAMETERS)
    out.update({name: draw[name].values for name in same if name in draw})
    # A model without LA volatility has every LA at sigma_ar: so has the truth then.
    out.setdefault("volatility_sd", np.zeros_like(out["sigma_ar"]))
    out.setdefault("volatility_trend", np.zeros_like(out["sigma_ar"]))
    out.setdefault("count_dispersion", np.ones_like(out["sigma_ar"]))
    out.setdefault("count_innovation", np.zeros_like(out["sigma_ar"]))
    return out


def true_shares(panel: PanelData, truth: PanelTruth, standardise: str) -> xr.DataArray:
    """Each LA's true share of its service's need in the first forecast year.

    Need is ``exposure * exp(log rate)``, without the persistent LA effect for ``"la"``
    (as :mod:`bayes_needs.need.panel` defines it).
    """
    log_rate = truth.log_rate[:, N_YEARS, :]
    if standardise == "la":
        log_rate = log_rate - truth.la_effect
    exposure = panel.exposure[panel.years[N_YEARS]].to_numpy(dtype=float)
    need = exposure[:, None] * np.exp(log_rate)
    return xr.DataArray(need / need.sum(axis=0), dims=(dims.LA, dims.SERVICE),
                        coords={dims.LA: list(panel.la_codes),
                                dims.SERVICE: list(panel.services)})


def inside(draws: xr.DataArray, truth: xr.DataArray) -> np.ndarray:
    """Whether each true value lies in its central 90% interval of ``draws`` (flat)."""
    lower, upper = credible_interval(draws, interval_prob=INTERVAL_PROB, interval_kind="eti")
    truth = truth.transpose(*lower.dims)
    return ((lower <= truth) & (truth <= upper)).to_numpy().ravel()


@dataclass
class Replicate:
    """What one replicate records: hits by parameter and by standardisation, fit health."""

    parameters: dict[str, np.ndarray] = field(default_factory=dict)
    shares: dict[str, np.ndarray] = field(default_factory=dict)
    divergences: int = 0
    rhat_max: float = float("nan")
    seconds: float = 0.0


def run_replicate(index: int, draw: dict[str, xr.DataArray]) -> Replicate:
    """Simulate a panel from ``draw``, refit it and check the intervals."""
    start = time.perf_counter()
    panel, truth = generate_panel("tiny", n_years=N_YEARS, services=SERVICES,
                                  random_seed=DATA_SEED + index,
                                  params=simulator_params(draw))
    # The truth really is the drawn one (the simulator continues the walk past year T).
    np.testing.assert_allclose(truth.level[:, :N_YEARS], simulator_params(draw)["level"])
    model = PanelDemandModel(panel, priors=TRUTH_PRIORS)
    idata = model.fit(random_seed=index, progressbar=False, **SAMPLING)
    post = idata_io.posterior(idata)
    out = Replicate(parameters={name: inside(post[name], value) for name, value in draw.items()})
    for standardise in STANDARDISATIONS:
        need = expected_need(model, idata, random_seed=index,
                             standardise=standardise)["need"].isel({dims.YEAR: 0}, drop=True)
        share = need / need.sum(dims.LA)
        out.shares[standardise] = inside(share, true_shares(panel, truth, standardise))
    health = convergence.convergence_summary(idata, list(draw))
    out.divergences, out.rhat_max = health["divergences"], health["rhat_max"]
    out.seconds = time.perf_counter() - start
    return out


def coverage(hits: list[np.ndarray]) -> tuple[float, int, float, float]:
    """Pooled coverage, count, binomial sd and between-replicate sd of the pooled coverage."""
    pooled = np.concatenate(hits)
    n, p = len(pooled), float(pooled.mean())
    per_replicate = np.array([h.mean() for h in hits])
    between = float(per_replicate.std(ddof=1) / np.sqrt(len(hits)))
    return p, n, float(np.sqrt(INTERVAL_PROB * (1 - INTERVAL_PROB) / n)), between


@pytest.fixture(scope="module")
def replicates() -> list[Replicate]:
    """Run every replicate once for the tests of this file."""
    logging.getLogger("pymc").setLevel(logging.ERROR)
    start = time.perf_counter()
    draws = prior_draws(N_REPLICATES, PRIOR_SEED)
    out = [run_replicate(i, draw) for i, draw in enumerate(draws)]
    print(f"\n{N_REPLICATES} replicates in {time.perf_counter() - start:.0f} s "
          f"(per fit {np.median([r.seconds for r in out]):.0f} s median)\ndivergences per "
          f"fit: {[r.divergences for r in out]}\nlargest R-hat per fit: "
          f"{[round(r.rhat_max, 2) for r in out]}")
    return out


def report(group: str, hits: list[np.ndarray]) -> float:
    """Print and return the pooled coverage of ``hits``."""
    p, n, binomial, between = coverage(hits)
    print(f"{group}: {p:.1%} of {n} inside 90% intervals (binomial sd {binomial:.1%}, "
          f"between-replicate sd {between:.1%})")
    return p


@pytest.mark.slow
def test_parameter_intervals_cover_the_truth_at_the_nominal_rate(replicates):
    for name in replicates[0].parameters:
        report(f"  {name}", [r.parameters[name] for r in replicates])
    pooled = report("parameters", [np.concatenate(list(r.parameters.values()))
                                   for r in replicates])
    assert abs(pooled - INTERVAL_PROB) <= TOLERANCE


@pytest.mark.slow
def test_forecast_need_share_intervals_cover_the_truth_at_the_nominal_rate(replicates):
    pooled = {standardise: report(f"need shares ({standardise})",
                                  [r.shares[standardise] for r in replicates])
              for standardise in STANDARDISATIONS}
    for standardise, p in pooled.items():
        assert abs(p - INTERVAL_PROB) <= TOLERANCE, standardise
