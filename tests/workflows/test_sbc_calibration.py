"""Slow: simulation-based calibration of the area model, 100 replicates at tiny scale.

Run with ``python -m pytest -m slow tests/workflows/test_sbc_calibration.py -s`` (about 1-2
minutes per replicate and core). Equivalent CLI::

    bayes-needs validate sbc --model area --scale tiny --n-sims 100 --out sbc_out

Set ``BAYES_NEEDS_SBC_OUT`` to keep the outputs (``sbc.csv``, ``ranks.csv``,
``replicates.csv``, ``sbc_ecdf.png``) in that directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bayes_needs.checks.sbc import SBCSettings
from bayes_needs.core import defaults
from bayes_needs.core.executors import make_executor
from bayes_needs.workflows.sbc import print_progress, run_sbc, write_sbc

N_SIMS = 100
BASE_SEED = defaults.RANDOM_SEED


@pytest.mark.slow
def test_area_model_sbc(tmp_path):
    settings = SBCSettings()
    with make_executor() as executor:
        result = run_sbc(settings, n_sims=N_SIMS, base_seed=BASE_SEED, executor=executor,
                         progress=print_progress)
    out = Path(os.environ.get("BAYES_NEEDS_SBC_OUT") or tmp_path / "sbc")
    write_sbc(result, out)
    summary = result.summary
    print(summary.to_string(index=False, float_format="%.3f"))
    reps = result.replicates
    print(f"divergent replicates: {(reps['divergences'] > 0).sum()}, max R-hat "
          f"{reps['rhat_max'].max():.3f}, min bulk ESS {reps['ess_bulk_min'].min():.0f}")
    failed = reps[reps["error"] != ""]
    assert failed.empty, failed
    assert (summary["n_sims"] == N_SIMS).all()
    # Acceptance: no quantity miscalibrated at p <= 0.01. With ~18 quantities a calibrated
    # model fails this by chance ~16% of the time; p_value_holm is the family-wise view.
    bad = summary[summary["p_value"] <= 0.01]
    assert bad.empty, bad.to_string()
