"""Every package-wide default, in one place.

A default that a user can change (an option, a config field) takes its value from here, so
the CLI, the run configs, the Python API and the docs cannot drift apart.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from bayes_needs.core import dims

#: Probability mass of every credible interval unless the user says otherwise.
INTERVAL_PROB: Final = 0.9
#: Interval kind: ``"eti"`` (equal-tailed) or ``"hdi"`` (highest-density).
INTERVAL_KIND: Final = "eti"
#: Seed of NUTS, and of the random steps without a default of their own below, when none is
#: given.
RANDOM_SEED: Final = 20240331
#: Seed of the need and allocation draws (small-area effects, predictive counts, cost-weight
#: draws) when none is given.
NEED_RANDOM_SEED: Final = 1
#: Seed of a cost-weight fit when none is given. Not :data:`RANDOM_SEED` (the demand models'),
#: so that cost-weight runs made before the two were distinguished can be reproduced.
COST_WEIGHTS_RANDOM_SEED: Final = 20250331
#: NUTS target acceptance rate. Not 0.8 (Stan's, PyMC's and nutpie's default): on the national
#: benchmark's area model 0.8 sampled in 22 s instead of 39 s for the same ESS, but on the SBC's
#: tiny data, with parameters drawn from the priors, 5 of 20 replicates diverged and one chain
#: stuck (R-hat 2.2), against none at 0.9 (same seeds) -- and the gate refuses any divergence.
TARGET_ACCEPT: Final = 0.9
#: NUTS implementation of every fit (``pymc``, ``nutpie`` or ``numpyro``). nutpie compiles
#: the model with numba and samples in Rust: several times PyMC's own sampler's speed on the
#: area model (benchmarks/README.md).
SAMPLER: Final = "nutpie"
#: Draws per chain after tuning.
DRAWS: Final = 1000
#: Tuning (warm-up) steps per chain. nutpie's adaptation settles well within 500 (its own
#: default is 300): on the demo a quarter fewer gradients than 1000 at the same ESS, and the
#: slow SBC (500) and recovery tests sample with it.
TUNE: Final = 500
#: Chains (sampled in parallel on up to two cores).
CHAINS: Final = 2
#: How a fit computes its posterior: ``"nuts"`` (exact MCMC) or ``"laplace"`` (a Gaussian
#: approximation at the mode, checked by importance sampling; :mod:`bayes_needs.models.laplace`).
SAMPLING_METHOD: Final = "nuts"
#: Largest Pareto k̂ of an approximate fit's importance ratios the convergence gate accepts:
#: above 0.7 the importance weights have no reliable mean, so the approximation cannot be
#: trusted or corrected (Yao et al. 2018, "Yes, but did it work?"; Vehtari et al. 2024,
#: "Pareto smoothed importance sampling").
PARETO_K_THRESHOLD: Final = 0.7
#: The nested Laplace approximation (:mod:`bayes_needs.models.nested_laplace`), made where the
#: plain one's k̂ exceeds :data:`PARETO_K_THRESHOLD`: its lattice step near the mode, in
#: standard deviations of the hyperparameters' Laplace marginal, and how fast the spacing
#: grows away from it (points at ``step * sinh(stretch * u) / stretch``, ``u`` integer); the
#: mixture kernel's width as a fraction of the local spacing; the drop of the log marginal
#: from its largest value up to which the lattice is extended; the most lattice points a
#: block; the most hyperparameters a block (a lattice in more dimensions has too many
#: points); and the Newton iterations of the marginal's mode.
NESTED_GRID_STEP: Final = 1.0
NESTED_GRID_STRETCH: Final = 0.5
NESTED_KERNEL_WIDTH: Final = 0.5
NESTED_LOG_DROP: Final = 4.0
NESTED_MAX_POINTS: Final = 200
NESTED_MAX_DIMENSIONS: Final = 4
NESTED_MODE_ITERATIONS: Final = 6
#: Years a panel fit forecasts beyond its last data year (``fit --horizon``).
FORECAST_HORIZON: Final = 1
#: Rebuild the England panel's missing CLA stocks from the next year's stock and flows.
CLA_FROM_FLOWS: Final = True
#: National pot shared out when the user names none (recorded in every run's files).
POT: Final = 1.0e9
#: ISO 4217 code of the pot's currency: the ``units`` of every money column and variable.
CURRENCY: Final = "GBP"

#: Relative cost per unit of each DfE-counted service, used when no weights are given for a
#: real-data run: an illustrative annual cost per referral, child in need, child on a plan
#: and child looked after (see examples/ for sources). Synthetic runs use the true costs.
COST_WEIGHTS: Final = MappingProxyType({
    dims.REFERRALS: 1_500.0, dims.CIN: 3_000.0, dims.CPP: 6_000.0, dims.CLA: 75_000.0,
    dims.CLA_WEEKS: 1_000.0,
})

#: Years ahead a rolling-origin backtest forecasts from each origin.
BACKTEST_HORIZON: Final = 2

#: Most activity an area's count may record per child of its exposure (the child population)
#: in a year: one unit per child per week of the year. Even the most intensive measure,
#: weeks looked after (``cla_weeks``), reaches it only if every child of the area were looked
#: after all year, and headcounts (referrals, children in need, on a plan, looked after) stay
#: far below one per child. A count above it is a thousands separator, a unit or a typing
#: error; it is refused rather than warned about, because a warning would still let the
#: wrong count drive the allocation with exit code 0.
MAX_COUNT_PER_CHILD: Final = 53.0

#: Most posterior draws (chains x draws, thinned evenly) of the pointwise log-likelihood and
#: posterior predictive groups a saved fit carries for ArviZ: enough for PSIS-LOO, while a
#: large fit's file stays a fraction of the pointwise arrays at every draw.
SAVED_POINTWISE_DRAWS: Final = 1000

#: How far the sum of an LA's data return for a service may fall from the LA total DfE
#: published for that service and year, as a fraction of the total (``validate-return
#: --tolerance``), or :data:`RETURN_TOTAL_MIN_DIFFERENCE` children, whichever is larger. The
#: two need not agree exactly: DfE counts each child once at the LA, while a return counts
#: children by the area of their home address, so children with no known or no English
#: address (unaccompanied asylum-seeking children, families in temporary accommodation) drop
#: out; DfE revises a year's figures in the next release; and a return drawn from the LA's
#: live case system on another day differs by late-recorded cases. A few per cent is the
#: usual size of these; a larger gap is a wrong year, service, column or LA.
RETURN_TOTAL_TOLERANCE: Final = 0.05
#: The smallest gap allowed between a return's sum and the published total, in children:
#: for a small count (an LA with 20 children on a plan) 5% is a single child.
RETURN_TOTAL_MIN_DIFFERENCE: Final = 5
#: Replicates per candidate design of ``bayes-needs design`` (each a draw from the current
#: posterior, a simulated return and an approximate refit).
DESIGN_REPLICATES: Final = 20
#: Posterior draws kept from each approximate refit of ``design`` (one chain).
DESIGN_DRAWS: Final = 400
#: An LA's share "moves" when its posterior mean share after the return differs from the one
#: before by more than this fraction of it (``design``'s probability that any LA moves).
DESIGN_SHARE_MOVE: Final = 0.05
#: Service and covariate of the within-LA gradient ``design`` reports: the CLA rate ratio
#: between the most and least deprived decile of LSOAs, ranked by the first covariate whose
#: name starts with this prefix (IMD score; the first covariate if none does).
GRADIENT_SERVICE: Final = dims.CLA
GRADIENT_COVARIATE_PREFIX: Final = "imd"
