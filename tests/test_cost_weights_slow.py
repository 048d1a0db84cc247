"""Slow checks of the cost-weight model with real NUTS sampling.

* Calibration on synthetic England-like spend whose true unit costs are drawn from the
  unit-cost priors: over several replicates, the 90% equal-tailed intervals of the relative
  weights cover the true weights about 90% of the time.
* Robustness: multiplying one LA's spend on one line by 10 moves no posterior mean weight by
  more than :data:`OUTLIER_BOUND` (relative), for the largest LA's residential and
  safeguarding lines.
* Real data: RO3 2024-25 with the DfE volumes fits without divergences.

Run with ``pytest -m slow tests/test_cost_weights_slow.py -s`` to see the figures.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_needs import idata as idata_io
from bayes_needs.io.costs import england_cost_design, england_spend_data
from bayes_needs.models.cost_weights import CostWeightModel
from bayes_needs.synthetic_costs import generate_spend, with_outlier
from bayes_needs.unit_costs import load_unit_costs

pytestmark = pytest.mark.slow

REPLICATES = tuple(range(10))
N_LA = 100
SAMPLING = {"draws": 500, "tune": 500, "chains": 2, "progressbar": False}
#: Minimum share of covered (replicate, weight) pairs. Nominal 0.9; with 50 pairs that are
#: correlated within a replicate (one reference cost), 0.76 is about three standard errors
#: below nominal.
MIN_COVERAGE = 0.76
#: A 10x outlier on one line of one LA may move no posterior mean weight by more than 5%.
OUTLIER_BOUND = 0.05
OUTLIER_N_LA = 150


def _weights(model: CostWeightModel, idata) -> dict[str, np.ndarray]:
    weight = idata_io.posterior(idata)["weight"]
    flat = weight.stack(sample=("chain", "draw")).transpose("activity", "sample").to_numpy()
    return {"mean": flat.mean(axis=1), "lower": np.quantile(flat, 0.05, axis=1),
            "upper": np.quantile(flat, 0.95, axis=1)}


def test_synthetic_90pct_intervals_cover_true_weights():
    covered, rows = [], []
    for seed in REPLICATES:
        synthetic = generate_spend(N_LA, random_seed=seed)
        model = CostWeightModel(synthetic.spend, synthetic.unit_costs, synthetic.design)
        idata = model.fit(random_seed=seed, **SAMPLING)
        w = _weights(model, idata)
        truth = synthetic.weight.reindex(model.activities).to_numpy()
        keep = np.array([a != model.reference for a in model.activities])
        inside = (w["lower"] <= truth) & (truth <= w["upper"])
        covered += list(inside[keep])
        divergences = int(idata_io.sample_stats(idata)["diverging"].sum())
        rows.append((seed, int(inside[keep].sum()), divergences))
        print(f"seed {seed}: covered {int(inside[keep].sum())}/{int(keep.sum())}, "
              f"divergences {divergences}; truth {np.round(truth[keep], 3)}, "
              f"90% ETI {np.round(w['lower'][keep], 3)} - {np.round(w['upper'][keep], 3)}")
    coverage = float(np.mean(covered))
    print(f"coverage of 90% intervals: {coverage:.3f} over {len(covered)} weights")
    assert coverage >= MIN_COVERAGE
    assert sum(r[2] for r in rows) <= len(REPLICATES)  # at most a stray divergence per fit


@pytest.mark.parametrize("category", ["cla_residential", "safeguarding"])
def test_ten_fold_outlier_moves_no_weight_beyond_bound(category):
    synthetic = generate_spend(OUTLIER_N_LA, random_seed=11)
    volumes = synthetic.spend.volumes
    cla = volumes[volumes["activity"] == "cla_weeks"].set_index("la_code")["volume"]
    target = str(cla.idxmax())  # the largest LA has the most leverage
    clean = CostWeightModel(synthetic.spend, synthetic.unit_costs, synthetic.design)
    base = _weights(clean, clean.fit(random_seed=2, **SAMPLING))["mean"]
    dirty = CostWeightModel(with_outlier(synthetic, target, category, 10.0),
                            synthetic.unit_costs, synthetic.design)
    moved = _weights(dirty, dirty.fit(random_seed=2, **SAMPLING))["mean"]
    change = np.abs(moved - base) / base
    worst = int(np.argmax(change))
    print(f"10x outlier on {target} {category}: max relative change {change[worst]:.4f} "
          f"({clean.activities[worst]}); all {np.round(change, 4)}")
    assert change.max() <= OUTLIER_BOUND


@pytest.mark.realdata
def test_real_ro3_2024_25_fits_without_divergences(data_dir):
    spend, _ = england_spend_data(data_dir, "2024-25")
    model = CostWeightModel(spend, load_unit_costs(), england_cost_design())
    idata = model.fit(random_seed=20250331, draws=1000, tune=1000, chains=2,
                      progressbar=False)
    summary = idata_io.convergence_summary(idata, ["unit_cost", "price_sd", "spend_sigma",
                                                   "spend_nu", "mix_sd"])
    w = _weights(model, idata)
    pos = model.activities.index("cla_residential_week")
    print(f"residential:foster weekly cost ratio {w['mean'][pos]:.3f} (90% ETI "
          f"{w['lower'][pos]:.3f}-{w['upper'][pos]:.3f}); divergences "
          f"{summary['divergences']}, max R-hat {summary['rhat_max']:.4f}, min bulk ESS "
          f"{summary['ess_bulk_min']:.0f}")
    assert summary["divergences"] == 0
    assert summary["rhat_max"] < 1.05
    assert 2.0 < w["lower"][pos] < w["mean"][pos] < w["upper"][pos] < 15.0
