"""``bayes-needs sensitivity``: run a scenario file and compare every variation with the base."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bayes_needs.cli.common import (
    existing_dir,
    existing_file,
    output_dir,
    positive_int,
    whole_number,
)
from bayes_needs.config.run import METHODS
from bayes_needs.config.scenarios import load_scenarios
from bayes_needs.core.executors import available_cpus, make_executor
from bayes_needs.core.progress import info
from bayes_needs.report.sensitivity_plots import TORNADO_TOP
from bayes_needs.workflows import sensitivity


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sensitivity`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "sensitivity", help="run a scenario file and compare allocations with the base",
        description="Fit the base run and every variation of a scenario file (see "
                    "examples/scenarios.toml), locally in worker processes or on a dask "
                    "cluster, and compare each with the base. Writes DIR/sensitivity.csv "
                    "(one row per scenario x LA), DIR/sensitivity_summary.csv (one row per "
                    "scenario), DIR/power_scaling.csv, DIR/tornado.png and "
                    "DIR/sensitivity.nc. Unconverged scenario fits are flagged, not refused.")
    parser.add_argument("--scenarios", type=existing_file, required=True, metavar="FILE",
                        help="scenario file (TOML or YAML)")
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                        help="output directory")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="local worker processes (default: one per scenario, at most the "
                            "CPU count)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of a dask.distributed scheduler, e.g. "
                            "tcp://10.0.0.5:8786 (needs bayes-needs[distributed])")
    parser.add_argument("--data-dir", type=existing_dir, default=None,
                        help="directory of the real public data, for scenarios with data "
                             "source 'england' (overrides the base's data.data_dir)")
    parser.add_argument("--year", type=whole_number, default=None,
                        help="DfE reporting year of the base (variations setting data.year "
                             "keep theirs)")
    parser.add_argument("--method", choices=METHODS, default=None,
                        help="how the base (and every variation that does not set its own "
                             "sampling.method) computes its posterior: nuts, or the laplace "
                             "approximation (default: the scenario file's, else nuts)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="run only these variations (the base always runs)")
    parser.add_argument("--no-power-scaling", dest="power_scaling", action="store_false",
                        help="skip the power-scaling sensitivity of each scenario")
    parser.add_argument("--top", type=positive_int, default=TORNADO_TOP,
                        help=f"LAs shown in the tornado plot (default {TORNADO_TOP})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the scenarios and write the comparison.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    scenarios = load_scenarios(args.scenarios)
    if args.data_dir is not None or args.year is not None:
        data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
        scenarios = scenarios.with_base_overrides(data={"data_dir": data_dir,
                                                        "year": args.year})
    if args.method is not None:
        scenarios = scenarios.with_base_overrides(sampling={"method": args.method})
    if args.only:
        scenarios = scenarios.select(args.only)
    start = time.perf_counter()
    workers = args.workers or min(len(scenarios), available_cpus())
    where = f"dask scheduler {args.scheduler}" if args.scheduler else \
        f"{workers} local worker process(es)"
    info(f"bayes-needs sensitivity: {len(scenarios)} scenarios ({', '.join(scenarios.names)}) "
         f"on {where}")
    with make_executor(workers, args.scheduler) as executor:
        results = sensitivity.run(scenarios, executor=executor, progress=True,
                                  power_scaling=args.power_scaling)
    comparison = sensitivity.compare(results)
    paths = sensitivity.write_outputs(results, comparison, args.out, top=args.top)
    columns = ["scenario", "max_abs_change_pp", "mean_abs_change_pp", "spearman_rho",
               "n_not_overlapping", "converged"]
    print(comparison.summary[columns].to_string(index=False, float_format="%.3f"))
    unconverged = comparison.summary.loc[~comparison.summary["converged"], "scenario"]
    if len(unconverged):
        print(f"bayes-needs: warning: scenario(s) {', '.join(unconverged)} miss the "
              f"convergence thresholds (see sensitivity_summary.csv); treat their comparisons "
              f"as provisional", file=sys.stderr)
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out} in "
          f"{sensitivity.elapsed(start)}")
    return 0

