"""``bayes-needs compare``: area-based vs person-based approach on one synthetic truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from bayes_needs.cli.common import (
    non_negative_int,
    number,
    output_dir,
    positive_int,
    probability,
)
from bayes_needs.core.progress import info, sampler_bar_wanted
from bayes_needs.models.sampling import SAMPLERS
from bayes_needs.report.disclosure import DEFAULT_THRESHOLD
from bayes_needs.workflows.comparison import (
    ComparisonSettings,
    run_comparison,
    summary_text,
    write_comparison,
)

#: The settings' own defaults, shown and used as the options' defaults.
_DEFAULTS = ComparisonSettings()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    d = _DEFAULTS
    parser = subparsers.add_parser(
        "compare", help="compare the area- and person-based approaches on synthetic data",
        description="Fit the area-based and person-based demand models to the same synthetic "
                    "truth; score held-out LAs by LA-grouped cross-validation (ELPD), "
                    "compare needs shares with the truth (error, interval coverage and "
                    "width) and stack the two approaches with cross-validated weights. "
                    "Writes comparison.csv (one row per approach), cv_pointwise.csv and "
                    "comparison.txt into --out.")
    parser.add_argument("--scale", choices=["tiny", "region", "england"], default=d.scale,
                        help=f"synthetic geography size (default {d.scale}; tiny: 8 LAs)")
    parser.add_argument("--out", type=output_dir, required=True, help="output directory")
    parser.add_argument("--folds", type=positive_int, default=d.folds,
                        help=f"LA folds of the cross-validation (default {d.folds})")
    parser.add_argument("--data-seed", type=non_negative_int, default=d.data_seed,
                        help=f"seed of the synthetic data (default {d.data_seed})")
    parser.add_argument("--seed", type=non_negative_int, default=d.random_seed,
                        help=f"sampling seed (default {d.random_seed})")
    parser.add_argument("--draws", type=positive_int, default=d.draws,
                        help=f"draws per chain (default {d.draws})")
    parser.add_argument("--tune", type=positive_int, default=d.tune,
                        help=f"tuning steps (default {d.tune})")
    parser.add_argument("--chains", type=positive_int, default=d.chains,
                        help=f"chains (default {d.chains})")
    parser.add_argument("--sampler", choices=list(SAMPLERS), default=d.sampler,
                        help=f"NUTS implementation (default {d.sampler})")
    parser.add_argument("--target-accept", type=probability, default=d.target_accept,
                        help=f"NUTS target acceptance rate (default {d.target_accept})")
    parser.add_argument("--services", nargs="+", default=None, metavar="SERVICE",
                        help="services to compare (default: all synthetic services)")
    parser.add_argument("--coverage", type=probability, default=d.coverage,
                        help=f"share of children in the person records (default "
                             f"{d.coverage})")
    parser.add_argument("--interval-prob", type=number, default=d.interval_prob,
                        help=f"credible interval probability (default {d.interval_prob})")
    parser.add_argument("--disclosure-threshold", type=positive_int, default=DEFAULT_THRESHOLD,
                        help=f"suppress exported counts below this (default "
                             f"{DEFAULT_THRESHOLD})")
    parser.add_argument("--progress", action="store_true", help="show sampler progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the comparison and write its files.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    settings = ComparisonSettings(
        scale=args.scale, data_seed=args.data_seed, random_seed=args.seed, folds=args.folds,
        draws=args.draws, tune=args.tune, chains=args.chains, sampler=args.sampler,
        target_accept=args.target_accept,
        services=tuple(args.services) if args.services else None, coverage=args.coverage,
        interval_prob=args.interval_prob, progressbar=sampler_bar_wanted(args.progress))
    result = run_comparison(settings, log=info)
    paths = write_comparison(result, Path(args.out), threshold=args.disclosure_threshold)
    info(summary_text(result))
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
