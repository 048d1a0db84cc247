"""``bayes-needs demo``: synthetic England end to end (generate -> fit -> need -> allocate)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bayes_needs.cli.common import output_dir
from bayes_needs.cli.run_options import add_allocation_options, add_sampling_options, apply_options
from bayes_needs.config.run import RunConfig


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
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
    parser.add_argument("--data-seed", type=int, default=0,
                        help="seed of the synthetic data (default 0)")
    parser.add_argument("--approach", choices=["area", "person", "both"], default="area",
                        help="area-based model (default), person-based model on synthetic "
                             "child records (outputs in --out), or both (in --out/area and "
                             "--out/person)")
    add_sampling_options(parser)
    add_allocation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from bayes_needs.checks.gate import record_in_allocation
    from bayes_needs.cli.gate_option import record_only
    from bayes_needs.simulate.synthetic import generate_area
    from bayes_needs.workflows import pipeline

    config = RunConfig.model_validate({"data": {"source": "synthetic", "scale": args.scale,
                                                "data_seed": args.data_seed}})
    config = apply_options(config, args)
    print(f"bayes-needs demo: generating synthetic {args.scale} data (seed "
          f"{args.data_seed})", file=sys.stderr)
    start = time.perf_counter()
    synthetic = generate_area(args.scale, random_seed=args.data_seed)
    data = synthetic.data
    print(f"  {data.geography.n_lsoa} LSOAs, {data.geography.n_msoa} MSOAs, "
          f"{data.geography.n_la} LAs; services {', '.join(data.services)}", file=sys.stderr)
    approach = getattr(args, "approach", "area")
    if approach != "area":
        from bayes_needs.cli.person_demo import run_person_demo

        out = args.out / "person" if approach == "both" else args.out
        run_person_demo(config, synthetic, out, data_seed=args.data_seed, start=start)
        if approach == "person":
            return 0
        args.out = args.out / "area"
    print("  fitting the area demand model ...", file=sys.stderr)
    fit = pipeline.fit_area(config, data, {"synthetic": synthetic})
    # The demo records the convergence gate and warns, rather than refusing (see gate.py).
    gate = record_only(fit, "the demo fit")
    need, allocation = pipeline.need_and_allocation(fit)
    record_in_allocation(allocation, gate)
    truth_share = synthetic.truth["needs_share"].to_series()
    summary = allocation.summary()
    inside = ((summary["share_lower"].to_numpy() <= truth_share.loc[summary["la_code"]]
               .to_numpy()) & (truth_share.loc[summary["la_code"]].to_numpy()
                               <= summary["share_upper"].to_numpy())).mean()
    extra = {"true needs share inside interval": f"{inside:.1%} of LAs",
             "total wall time": f"{time.perf_counter() - start:.1f} s",
             **gate.summary_lines()}
    pipeline.write_run(fit, need, allocation, args.out, extra=extra)
    print((args.out / pipeline.SUMMARY_FILE).read_text(), file=sys.stderr)
    print(f"wrote {', '.join(pipeline.OUTPUT_FILES)} to {args.out}")
    return 0
