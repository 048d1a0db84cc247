"""``bayes-needs costs``: uncertain relative cost weights from unit-cost priors and RO3 spend."""

from __future__ import annotations

import argparse
import sys

from bayes_needs.cli.common import (
    existing_dir,
    existing_file,
    non_negative_int,
    output_dir,
    positive_int,
    probability,
)

DEFAULT_SEED = 20250331


def register(subparsers) -> None:
    """Add the ``costs`` sub-command."""
    parser = subparsers.add_parser(
        "costs", help="fit uncertain relative cost weights to RO3 spend",
        description="Fuse unit-cost priors (priors/unit_costs.toml) with MHCLG RO3 children's "
                    "social care spend and DfE activity volumes in a robust hierarchical "
                    "model. Writes cost_weights.csv, cost_weights.nc, influence.csv, "
                    "dropped_cells.csv and cost_summary.txt into --out. Use the .nc with "
                    "'bayes-needs allocate RUN --cost-weights OUT/cost_weights.nc'.")
    parser.add_argument("--data-dir", type=existing_dir, required=True,
                        help="directory of the real public data")
    parser.add_argument("--year", required=True,
                        help="RO3 financial year, e.g. 2024-25 (volumes: DfE year to 31 "
                             "March 2025)")
    parser.add_argument("--out", type=output_dir, required=True, help="output directory")
    parser.add_argument("--unit-costs", type=existing_file, default=None,
                        help="unit-cost prior table (default: priors/unit_costs.toml)")
    parser.add_argument("--priors", type=existing_file, default=None,
                        help="prior file overriding the hyperpriors of priors/"
                             "cost_weights.toml by variable name")
    group = parser.add_argument_group("sampling")
    group.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED,
                       help=f"random seed (default {DEFAULT_SEED})")
    # The model is small (a minute per fit), and with 1000 draws price_sd and mix_sd reach
    # a bulk ESS of only about 200 on RO3 2024-25 (R-hat 1.02); 2000 give about 370.
    group.add_argument("--draws", type=positive_int, default=2000,
                       help="draws per chain (default 2000)")
    group.add_argument("--tune", type=positive_int, default=1000, help="tuning steps per chain")
    group.add_argument("--chains", type=positive_int, default=2, help="number of chains")
    group.add_argument("--target-accept", type=probability, default=0.95,
                       help="NUTS target acceptance rate (default 0.95)")
    group.add_argument("--max-refits", type=non_negative_int, default=5,
                       help="cap on exact leave-one-LA-out refits for LAs with Pareto k >= "
                            "0.7 (default 5; 0 = PSIS only)")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")
    group = parser.add_argument_group("intervals")
    group.add_argument("--interval-prob", type=probability, default=0.9,
                       help="credible interval probability (default 0.9)")
    group.add_argument("--interval-kind", choices=["eti", "hdi"], default="eti",
                       help="equal-tailed (eti, default) or highest-density (hdi)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the cost weights and write the output files."""
    from bayes_needs.data.readers.costs import reporting_year
    from bayes_needs.workflows.costs import COST_WEIGHTS_CSV, SUMMARY_TXT, run_costs

    reporting_year(args.year)  # fail on a malformed year before reading anything
    print(f"bayes-needs costs: RO3 {args.year} with DfE volumes ...", file=sys.stderr)
    result = run_costs(args.data_dir, args.year, args.out, random_seed=args.seed,
                       unit_costs=args.unit_costs, priors=args.priors, draws=args.draws,
                       tune=args.tune, chains=args.chains, target_accept=args.target_accept,
                       max_refits=args.max_refits, interval_prob=args.interval_prob,
                       interval_kind=args.interval_kind, progressbar=not args.no_progress)
    print((args.out / SUMMARY_TXT).read_text(encoding="utf-8"), file=sys.stderr)
    conv = result["convergence"]
    print(f"cost weights written to {args.out / COST_WEIGHTS_CSV} (max R-hat "
          f"{conv['rhat_max']:.3f}, divergences {conv['divergences']})")
    return 0
