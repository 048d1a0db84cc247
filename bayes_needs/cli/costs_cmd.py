"""``bayes-needs costs``: uncertain relative cost weights from unit-cost priors and RO3 spend."""

from __future__ import annotations

import argparse

from bayes_needs.checks.influence import K_THRESHOLD
from bayes_needs.cli.common import (
    existing_dir,
    existing_file,
    non_negative_int,
    number,
    output_dir,
    positive_int,
    probability,
)
from bayes_needs.core import defaults
from bayes_needs.core.intervals import INTERVAL_KINDS
from bayes_needs.core.progress import info, sampler_bar_wanted
from bayes_needs.data.readers.costs import reporting_year
from bayes_needs.models.cost_weights import TARGET_ACCEPT
from bayes_needs.workflows import costs


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``costs`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
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
    group.add_argument("--seed", type=non_negative_int, default=costs.RANDOM_SEED,
                       help=f"random seed (default {costs.RANDOM_SEED})")
    group.add_argument("--draws", type=positive_int, default=costs.DRAWS,
                       help=f"draws per chain (default {costs.DRAWS})")
    group.add_argument("--tune", type=positive_int, default=costs.TUNE,
                       help=f"tuning steps per chain (default {costs.TUNE})")
    group.add_argument("--chains", type=positive_int, default=costs.CHAINS,
                       help=f"number of chains (default {costs.CHAINS})")
    group.add_argument("--target-accept", type=probability, default=TARGET_ACCEPT,
                       help=f"NUTS target acceptance rate (default {TARGET_ACCEPT})")
    group.add_argument("--max-refits", type=non_negative_int, default=costs.MAX_REFITS,
                       help=f"cap on exact leave-one-LA-out refits for LAs with Pareto k >= "
                            f"{K_THRESHOLD} (default {costs.MAX_REFITS}; 0 = PSIS only)")
    group.add_argument("--no-progress", action="store_true",
                       help="hide the sampler's progress bar (shown on a terminal only)")
    group = parser.add_argument_group("intervals")
    group.add_argument("--interval-prob", type=number, default=defaults.INTERVAL_PROB,
                       help=f"credible interval probability (default {defaults.INTERVAL_PROB})")
    group.add_argument("--interval-kind", default=defaults.INTERVAL_KIND,
                       metavar="{" + ",".join(INTERVAL_KINDS) + "}",
                       help=f"equal-tailed (eti) or highest-density (hdi) (default "
                            f"{defaults.INTERVAL_KIND})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the cost weights and write the output files.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    reporting_year(args.year)  # fail on a malformed year before reading anything
    info(f"bayes-needs costs: RO3 {args.year} with DfE volumes ...")
    result = costs.run_costs(
        args.data_dir, args.year, args.out, random_seed=args.seed, unit_costs=args.unit_costs,
        priors=args.priors, draws=args.draws, tune=args.tune, chains=args.chains,
        target_accept=args.target_accept, max_refits=args.max_refits,
        interval_prob=args.interval_prob, interval_kind=args.interval_kind,
        progressbar=sampler_bar_wanted(not args.no_progress))
    info((args.out / costs.SUMMARY_TXT).read_text(encoding="utf-8"))
    conv = result["convergence"]
    print(f"cost weights written to {args.out / costs.COST_WEIGHTS_CSV} (max R-hat "
          f"{conv['rhat_max']:.3f}, divergences {conv['divergences']})")
    return 0
