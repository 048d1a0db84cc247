"""Benchmark: the approximate (Laplace) path against NUTS, side by side on the same data.

Two data sets, each fitted with NUTS (the package's default sampler, nutpie, with the run
config's draws) and with
``sampling.method = "laplace"`` (:mod:`bayes_needs.models.laplace`), then taken through the
same need and allocation step with the same seeds:

``england``
    The real England LA totals of ``--year`` (``examples/england_area.toml``: referrals,
    CIN, CPP and CLA on IDACI and the IMD score), when the real data directory exists
    (``--data-dir``, ``$BAYES_NEEDS_DATA_DIR`` or ``../shared/data``).
``region``
    Synthetic region data, every LSOA observed for all five services, the default area
    model (MSOA effects integrated out, LSOA overdispersion).

Printed per data set (``name[data]=value``): the load average before the fits, the wall time
of each fit (``build_model``, compilation and inference; ``laplace_seconds`` is the first
Laplace fit in the process, ``laplace_warm_seconds`` a second one of a newly built model on
the same data, which reuses the first one's compiled functions), ``speedup`` (NUTS seconds
over the first Laplace fit's), ``speedup_warm``, the warm fit's gradient evaluations to the
mode and importance-weighted proposals, ``max_share_diff_pp`` (largest absolute difference
of the LAs' posterior mean shares, in percentage points), the ratio of the 90% share-interval
widths (Laplace over NUTS; median, min, max), the Laplace fit's Pareto k̂ and importance ESS,
and NUTS's convergence gate.

Run: ``python -m benchmarks approx [--data-dir DIR --year 2024] [--only england|region]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def _configs(data_dir: Path | None, year: int, seed: int) -> dict[str, object]:
    from bayes_needs.config.run import RunConfig, load_run_config

    configs: dict[str, object] = {}
    if data_dir is not None and data_dir.is_dir():
        example = Path(__file__).resolve().parent.parent / "examples" / "england_area.toml"
        configs["england"] = load_run_config(example).with_overrides(
            data={"data_dir": str(data_dir), "year": year})
    configs["region"] = RunConfig.model_validate({
        "data": {"source": "synthetic", "scale": "region", "data_seed": seed},
        "sampling": {"random_seed": seed}})
    return configs


def _data(name: str, config):
    from bayes_needs.simulate.area import generate_area
    from bayes_needs.workflows.inputs import load_area_data

    if name == "region":
        synthetic = generate_area("region", random_seed=config.data.data_seed,
                                  observation_mix={"lsoa": 1.0, "msoa": 0.0, "la": 0.0,
                                                   "none": 0.0})
        return synthetic.data, {"synthetic": synthetic}
    return load_area_data(config.data)


def _timed_fit(config, data, info):
    from bayes_needs.workflows.fits import fit_area

    start = time.perf_counter()
    fit = fit_area(config, data, data_info=info)
    return fit, time.perf_counter() - start


def compare(name: str, config) -> None:
    """Fit one data set both ways and print the figures."""
    from bayes_needs.checks.gate import evaluate
    from bayes_needs.core import defaults
    from bayes_needs.core.idata import get_config
    from bayes_needs.workflows.fits import convergence
    from bayes_needs.workflows.pipeline import need_and_allocation

    data, info = _data(name, config)
    load = os.getloadavg()[0]
    approximate = config.with_overrides(sampling={"method": "laplace"})
    laplace_fit, laplace_seconds = _timed_fit(approximate, data, info)
    warm_fit, warm_seconds = _timed_fit(approximate, data, info)
    nuts_fit, nuts_seconds = _timed_fit(
        config.with_overrides(sampling={"sampler": defaults.SAMPLER}), data, info)
    shares = {}
    for label, fit in (("nuts", nuts_fit), ("laplace", laplace_fit)):
        shares[label] = need_and_allocation(fit)[1].summary().set_index("la_code")
    nuts, approx = shares["nuts"], shares["laplace"].loc[shares["nuts"].index]
    width = (approx.share_upper - approx.share_lower) / (nuts.share_upper - nuts.share_lower)
    record = convergence(laplace_fit.idata)
    warm_run = get_config(warm_fit.idata)["run"]
    figures = {
        "load_average": load, "nuts_sampler": defaults.SAMPLER, "nuts_seconds": nuts_seconds,
        "laplace_seconds": laplace_seconds,
        "laplace_warm_seconds": warm_seconds,
        "speedup": nuts_seconds / laplace_seconds,
        "speedup_warm": nuts_seconds / warm_seconds,
        "laplace_gradients": warm_run["gradient_evaluations"],
        "laplace_proposals": warm_run.get("proposals"),
        "max_share_diff_pp": 100 * float(np.max(np.abs(approx.share_mean - nuts.share_mean))),
        "width_ratio_median": float(np.median(width)),
        "width_ratio_min": float(np.min(width)), "width_ratio_max": float(np.max(width)),
        "pareto_k": record["pareto_k"], "importance_ess": record["importance_ess"],
        "nuts_gate_passed": evaluate(convergence(nuts_fit.idata)).passed,
        "laplace_gate_passed": evaluate(convergence(laplace_fit.idata)).passed,
    }
    for key, value in figures.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key}[{name}]={shown}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks approx")
    default_dir = os.environ.get("BAYES_NEEDS_DATA_DIR",
                                 str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data-dir", type=Path, default=Path(default_dir))
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("england", "region"), default=None)
    args = parser.parse_args(argv)
    for name, config in _configs(args.data_dir, args.year, args.seed).items():
        if args.only in (None, name):
            compare(name, config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
