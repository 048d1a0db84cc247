"""``bayes-needs demo``: synthetic England end to end (generate -> fit -> need -> allocate)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bayes_needs.cli.common import output_dir, whole_number
from bayes_needs.cli.gate_option import warn_if_failed
from bayes_needs.cli.run_options import add_allocation_options, add_sampling_options, configure
from bayes_needs.config.run import RunConfig
from bayes_needs.core.progress import info
from bayes_needs.workflows import demo, pipeline

#: ``--approach`` -> the demos run, in order, and whether each gets its own subdirectory.
APPROACHES: dict[str, tuple[str, ...]] = {"area": ("area",), "person": ("person",),
                                          "both": ("person", "area")}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "demo", help="run synthetic England end to end",
        description="Generate synthetic England with known truth, fit the area demand model, "
                    "compute needs-standardised demand and allocate a pot with credible "
                    "intervals. Writes allocations.csv, demand.csv, fit.nc, allocation.nc and "
                    "summary.txt into --out.")
    parser.add_argument("--scale", choices=["england", "region", "tiny"], default="england",
                        help="synthetic geography size (default england: 153 LAs, ~33k LSOAs)")
    parser.add_argument("--out", type=output_dir, default=Path("demo_out"),
                        help="output directory (default ./demo_out)")
    parser.add_argument("--data-seed", type=whole_number, default=0,
                        help="seed of the synthetic data (default 0)")
    parser.add_argument("--approach", choices=list(APPROACHES), default="area",
                        help="area-based model (default), person-based model on synthetic "
                             "child records (outputs in --out), or both (in --out/area and "
                             "--out/person)")
    add_sampling_options(parser)
    add_allocation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    config = configure(RunConfig(), args, data={"source": "synthetic", "scale": args.scale,
                                                "data_seed": args.data_seed})
    info(f"bayes-needs demo: generating synthetic {args.scale} data (seed {args.data_seed})")
    start = time.perf_counter()
    synthetic = demo.synthetic_england(config)
    data = synthetic.data
    info(f"  {data.geography.n_lsoa} LSOAs, {data.geography.n_msoa} MSOAs, "
         f"{data.geography.n_la} LAs; services {', '.join(data.services)}")
    runs = [(demo.area_demo if approach == "area" else demo.person_demo)(
        config, synthetic, start=start, log=info) for approach in APPROACHES[args.approach]]
    # Every approach's files are written as one set, after every fit has succeeded.
    directories = demo.write_demos(runs, args.out)
    for result, directory in zip(runs, directories, strict=True):
        warn_if_failed(result.gate, "the demo fit")
        info((directory / pipeline.SUMMARY_FILE).read_text(encoding="utf-8"))
        print(f"wrote {', '.join(result.files)} to {directory}")
    return 0
