"""Inspect a saved fit with stock ArviZ: summary, trace plot and PSIS-LOO.

    python examples/arviz_inspection.py RUN_DIR --out runs/inspection

RUN_DIR is a run directory written by ``examples/quickstart.py``, ``Run.save`` or
``bayes-needs fit``/``demo``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt

from bayes_needs import Run
from bayes_needs.checks import diagnostics

#: The hyperparameters (the LA and MSOA effects themselves are many more variables).
HYPERPARAMETERS = ["intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion"]


def main() -> None:
    """Print the summary and LOO of a saved fit and save its trace plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a saved run directory (with fit.nc)")
    parser.add_argument("--out", default="runs/inspection", help="where to save the plot")
    args = parser.parse_args()

    run = Run.load(args.run_dir)
    idata = run.idata
    names = [v for v in HYPERPARAMETERS if v in idata.posterior]
    print(az.summary(idata, var_names=names, kind="diagnostics"))

    az.plot_trace(idata, var_names=names, compact=True, legend=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plt.savefig(out / "trace.png", dpi=80)
    plt.close("all")
    print(f"trace plot saved to {out / 'trace.png'}")

    # Pointwise log-likelihoods, recomputed from the posterior if the file has none. Use the
    # MSOA totals: the LSOA terms split an MSOA's total, so they are not one density per
    # observation and PSIS-LOO on them is meaningless.
    if "log_likelihood" not in idata.groups():
        idata = diagnostics.log_densities(run.model, idata)
    msoa = [v for v in idata.log_likelihood.data_vars if str(v).startswith("obs_msoa")]
    print(f"PSIS-LOO of the MSOA totals ({msoa[0]}):")
    print(az.loo(idata, var_name=msoa[0]))
    # Leaving out whole LAs (the unit funding is decided for) is the package's own check.
    print(diagnostics.loo_by_la(run.model, idata).table.head())


if __name__ == "__main__":
    main()
