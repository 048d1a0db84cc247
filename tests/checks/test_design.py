"""Design summaries: widths, the gradient and their Monte Carlo errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_needs.allocation import allocate
from bayes_needs.checks.design import (
    DESIGN_SCOPE,
    LA_SCOPE,
    FitSummary,
    design_table,
    fit_summary,
    gradient_contrast,
)
from bayes_needs.core import dims

CODES, NAMES = ["A", "B", "C"], ["Ay", "Bee", "Cee"]


def summary(width, share, sd=0.2, k=0.3, returning=(False, False, False)) -> FitSummary:
    return FitSummary(np.asarray(width, float), np.asarray(share, float), np.log(5.0), sd, k,
                      np.asarray(returning))


def table(base, replicates, **kw):
    return design_table(base, replicates, la_codes=CODES, la_names=NAMES, move=0.05,
                        pareto_k_threshold=0.7, **kw)


def test_expectations_and_monte_carlo_errors():
    base = summary([0.10, 0.20, 0.40], [0.5, 0.3, 0.2], sd=0.4)
    reps = [summary([0.08, 0.20, 0.30], [0.5, 0.3, 0.2], sd=0.3, returning=(True, False, False)),
            summary([0.06, 0.10, 0.40], [0.4, 0.35, 0.25], sd=0.2, returning=(False, True, False))]
    got = table(base, {"d": reps})
    la = got[got["scope"] == LA_SCOPE].set_index("la_code")
    reduction = np.array([[0.02, 0.0, 0.10], [0.04, 0.10, 0.0]])
    np.testing.assert_allclose(la["width_reduction"], reduction.mean(0))
    np.testing.assert_allclose(la["width_reduction_se"], reduction.std(0, ddof=1) / np.sqrt(2))
    np.testing.assert_allclose(la["relative_reduction"], (reduction / base.width).mean(0))
    np.testing.assert_allclose(la["returning"], [0.5, 0.5, 0.0])
    # Only the second replicate moves shares by more than 5%: A by 20%, B and C too.
    np.testing.assert_allclose(la["prob_move"], [0.5, 0.5, 0.5])
    assert list(la["la_name"]) == NAMES
    design = got[got["scope"] == DESIGN_SCOPE].iloc[0]
    medians = np.median(reduction / base.width, axis=1)
    assert design["relative_reduction"] == pytest.approx(medians.mean())
    assert design["relative_reduction_se"] == pytest.approx(medians.std(ddof=1) / np.sqrt(2))
    assert design["gradient_sd_before"] == pytest.approx(0.4)
    assert design["gradient_sd_after"] == pytest.approx(0.25)
    assert design["gradient_sd_after_se"] == pytest.approx(np.std([0.3, 0.2], ddof=1) / np.sqrt(2))
    assert design["prob_move"] == pytest.approx(0.5)
    assert design["returning"] == pytest.approx(1.0)
    assert design["gradient_ratio_before"] == pytest.approx(5.0)


def test_refits_over_the_pareto_threshold_are_flagged_and_left_out():
    base = summary([0.1, 0.2, 0.4], [0.5, 0.3, 0.2])
    good = summary([0.05, 0.1, 0.2], [0.5, 0.3, 0.2])
    bad = summary([1.0, 1.0, 1.0], [0.1, 0.1, 0.8], k=0.9)
    failed = summary([np.nan] * 3, [np.nan] * 3, k=np.inf)
    got = table(base, {"d": [good, bad, failed]})
    design = got[got["scope"] == DESIGN_SCOPE].iloc[0]
    assert (design["replicates"], design["replicates_kept"], design["replicates_flagged"]) == \
        (3, 1, 2)
    assert design["replicates_failed"] == 1
    assert design["max_pareto_k"] == pytest.approx(0.9)
    assert design["relative_reduction"] == pytest.approx(0.5)
    assert design["rank_change"] == 0.0


def test_rank_changes_follow_the_mean_shares():
    base = summary([0.1, 0.1, 0.1], [0.5, 0.3, 0.2])
    swapped = summary([0.1, 0.1, 0.1], [0.5, 0.2, 0.3])
    la = table(base, {"d": [swapped]}).query("scope == 'la'")
    np.testing.assert_array_equal(la["rank_change"], [0, 1, 1])


def test_gradient_contrast_is_the_child_weighted_decile_difference():
    ranking = np.arange(100.0)
    z = np.column_stack([ranking / 10.0, np.ones(100)])
    exposure = np.ones(100)
    exposure[95:] = 3.0  # within the top decile, the last five weigh three times as much
    got = gradient_contrast(z, exposure, ranking)
    top = (np.arange(90, 95).sum() + 3 * np.arange(95, 100).sum()) / 20 / 10.0
    assert got == pytest.approx([top - np.arange(10).mean() / 10.0, 0.0])


def test_fit_summary_reads_widths_and_the_gradient():
    rng = np.random.default_rng(3)
    need = xr.DataArray(rng.gamma(50.0, 1.0, size=(1, 400, 3, 1)),
                        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords={dims.LA: CODES, dims.SERVICE: ["cla"]})
    allocation = allocate(need, {"cla": 1.0}, pot=1.0)
    beta = xr.DataArray(rng.normal([0.5, 0.1], [0.1, 0.0], size=(1, 400, 2)),
                        dims=(dims.CHAIN, dims.DRAW, "covariate"))
    got = fit_summary(allocation, beta, np.array([2.0, 1.0]), interval_prob=0.9,
                      interval_kind="eti", pareto_k=0.2, returning=np.zeros(3, bool))
    share = allocation.draws["share"].to_numpy().reshape(400, 3)
    np.testing.assert_allclose(got.width, np.quantile(share, 0.95, axis=0)
                               - np.quantile(share, 0.05, axis=0))
    assert got.log_gradient_sd == pytest.approx(2 * beta[..., 0].std(ddof=1).item(), rel=1e-9)
    assert got.log_gradient_mean == pytest.approx(1.1, abs=0.05)
