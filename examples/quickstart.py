"""The main flow from Python: config -> fit -> need -> allocate -> save -> report -> reload.

    python examples/quickstart.py --out runs/quickstart [--scale tiny|region|england]

Synthetic England at the chosen scale (tiny by default: a few LAs, a minute or two of
sampling), so it runs anywhere. For real data, start from a run config instead:
``Run.from_config("examples/england_area.toml", data_dir="path/to/data", year=2024)``.
"""

from __future__ import annotations

import argparse

from bayes_needs import Run, RunConfig


def main() -> None:
    """Fit, allocate, save, report and reload one synthetic run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/quickstart", help="run directory to write")
    parser.add_argument("--scale", default="tiny", choices=["tiny", "region", "england"])
    args = parser.parse_args()

    config = RunConfig(data={"source": "synthetic", "scale": args.scale, "data_seed": 0})
    run = Run(config)
    run.fit(random_seed=20240331, chains=2, draws=1000, tune=1000)
    print(f"max R-hat {run.convergence['rhat_max']:.3f}, "
          f"min bulk ESS {run.convergence['ess_bulk_min']:.0f}")

    need = run.need(random_seed=1, standardise="la")      # draws: chain, draw, la, service
    print(f"needs-standardised demand draws: {dict(need['need'].sizes)}")

    # Refuses a fit that misses the convergence thresholds (on_unconverged="warn" overrides).
    allocation = run.allocate(interval_prob=0.9, interval_kind="eti", pot=1.0e9,
                              currency="GBP")
    print(allocation.summary()[["la_code", "share_mean", "share_lower", "share_upper",
                                "allocation_mean"]].to_string(index=False))

    run.save(args.out)               # fit.nc, run.json, allocations.csv, demand.csv, ...
    report = run.report(random_seed=1)
    print(f"report written to {report}")

    again = Run.load(args.out)       # the fit (data hash checked) and its allocation
    assert again.allocation is not None
    print(f"reloaded {again}")


if __name__ == "__main__":
    main()
