"""``bayes-needs design``: value candidate LSOA/MSOA data collections against a fitted run."""

from __future__ import annotations

import argparse
import time

from bayes_needs.cli.common import (
    existing_dir,
    existing_file,
    non_negative_int,
    output_dir,
    positive_int,
)
from bayes_needs.config.designs import load_designs
from bayes_needs.core import defaults, dims
from bayes_needs.core.executors import available_cpus, make_executor
from bayes_needs.core.progress import info
from bayes_needs.workflows import design, pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``design`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "design", help="value candidate LSOA/MSOA returns (preposterior analysis)",
        description="For each candidate design of a design file (see examples/designs.toml) "
                    "and each replicate: draw parameters from the run's posterior, simulate "
                    "the design's LSOA/MSOA return, refit by the Laplace approximation and "
                    "record each LA's share interval and the CLA gradient. Writes "
                    "DIR/design.csv (design x LA rows and a summary row per design, with "
                    "Monte Carlo errors), DIR/design_width.png and DIR/design_summary.txt.")
    parser.add_argument("run_dir", type=existing_dir, help="run directory written by 'fit'")
    parser.add_argument("--designs", type=existing_file, required=True, metavar="FILE",
                        help="design file (TOML or YAML)")
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                        help="output directory")
    parser.add_argument("--replicates", type=positive_int, default=defaults.DESIGN_REPLICATES,
                        metavar="R", help=f"replicates per design (default "
                                          f"{defaults.DESIGN_REPLICATES})")
    parser.add_argument("--seed", type=non_negative_int, default=defaults.RANDOM_SEED,
                        metavar="S", help=f"base seed (default {defaults.RANDOM_SEED})")
    parser.add_argument("--draws", type=positive_int, default=defaults.DESIGN_DRAWS,
                        help=f"posterior draws per refit (default {defaults.DESIGN_DRAWS})")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="local worker processes (default: the CPU count)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of a dask.distributed scheduler, e.g. "
                            "tcp://10.0.0.5:8786 (needs bayes-needs[distributed])")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the designs and write the results.

    The design file is checked against the run before its fit is loaded, so a mistake in it
    is reported at once.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    start = time.perf_counter()
    config = pipeline.read_run_config(args.run_dir)
    load_designs(args.designs, services=config.data.services or list(dims.SERVICES), la_codes=None,
                 year=config.data.year)
    info(f"bayes-needs design: loading {args.run_dir} ...")
    fit = pipeline.load_fit(args.run_dir, config)
    geo = fit.model.data.geography
    designs = load_designs(args.designs, services=fit.model.services,
                           la_codes=list(geo.codes(dims.LA)), year=fit.model.data.year)
    workers = args.workers or available_cpus()
    where = f"dask scheduler {args.scheduler}" if args.scheduler else \
        f"{workers} local worker process(es)"
    info(f"bayes-needs design: {len(designs.designs)} design(s) x {args.replicates} "
         f"replicate(s) on {where}")
    with make_executor(workers, args.scheduler) as executor:
        result = design.run(fit, designs, replicates=args.replicates, seed=args.seed,
                            draws=args.draws, executor=executor, progress=True)
    paths = design.write_outputs(result, args.out)
    print(design.summary_text(result), end="")
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out} in "
          f"{time.perf_counter() - start:.0f} s")
    return 0
