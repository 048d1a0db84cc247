"""``bayes-needs compare``: area-based vs person-based approach on one synthetic truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_needs.cli.common import non_negative_int, output_dir, positive_int, probability


def register(subparsers) -> None:
    """Add the ``compare`` sub-command."""
    parser = subparsers.add_parser(
        "compare", help="compare the area- and person-based approaches on synthetic data",
        description="Fit the area-based and person-based demand models to the same synthetic "
                    "truth; score held-out LAs by LA-grouped cross-validation (ELPD), "
                    "compare needs shares with the truth (error, interval coverage and "
                    "width) and stack the two approaches with cross-validated weights. "
                    "Writes comparison.csv (one row per approach), cv_pointwise.csv and "
                    "comparison.txt into --out.")
    parser.add_argument("--scale", choices=["tiny", "region", "england"], default="tiny",
                        help="synthetic geography size (default tiny: 8 LAs)")
    parser.add_argument("--out", type=output_dir, required=True, help="output directory")
    parser.add_argument("--folds", type=positive_int, default=4,
                        help="LA folds of the cross-validation (default 4)")
    parser.add_argument("--data-seed", type=non_negative_int, default=0,
                        help="seed of the synthetic data (default 0)")
    parser.add_argument("--seed", type=non_negative_int, default=20240331,
                        help="sampling seed (default 20240331)")
    parser.add_argument("--draws", type=positive_int, default=500, help="draws per chain")
    parser.add_argument("--tune", type=positive_int, default=500, help="tuning steps")
    parser.add_argument("--chains", type=positive_int, default=2, help="chains")
    parser.add_argument("--sampler", choices=["pymc", "nutpie", "numpyro"], default="pymc",
                        help="NUTS implementation")
    parser.add_argument("--target-accept", type=probability, default=0.9,
                        help="NUTS target acceptance rate (default 0.9)")
    parser.add_argument("--services", nargs="+", default=None, metavar="SERVICE",
                        help="services to compare (default: all synthetic services)")
    parser.add_argument("--coverage", type=probability, default=0.8,
                        help="share of children in the person records (default 0.8)")
    parser.add_argument("--interval-prob", type=probability, default=0.9,
                        help="credible interval probability (default 0.9)")
    parser.add_argument("--disclosure-threshold", type=positive_int, default=5,
                        help="suppress exported counts below this (default 5)")
    parser.add_argument("--progress", action="store_true", help="show sampler progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the comparison and write its files."""
    from bayes_needs.workflows.comparison import (
        ComparisonSettings,
        run_comparison,
        summary_text,
        write_comparison,
    )

    settings = ComparisonSettings(
        scale=args.scale, data_seed=args.data_seed, random_seed=args.seed, folds=args.folds,
        draws=args.draws, tune=args.tune, chains=args.chains, sampler=args.sampler,
        target_accept=args.target_accept,
        services=tuple(args.services) if args.services else None, coverage=args.coverage,
        interval_prob=args.interval_prob, progressbar=args.progress)
    result = run_comparison(settings)
    paths = write_comparison(result, Path(args.out), threshold=args.disclosure_threshold)
    print(summary_text(result), file=sys.stderr)
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
