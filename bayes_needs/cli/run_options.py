"""Options shared by ``demo``, ``fit`` and ``allocate``, and their mapping onto a RunConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from bayes_needs.cli.common import (
    existing_file,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from bayes_needs.config.run import RunConfig


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """--seed, --sampler, --draws, --tune, --chains, --target-accept, --priors, --no-progress."""
    group = parser.add_argument_group("sampling")
    group.add_argument("--seed", type=non_negative_int, default=None,
                       help="random seed for sampling (default: the config's)")
    group.add_argument("--sampler", choices=["pymc", "nutpie", "numpyro"], default=None,
                       help="NUTS implementation (nutpie/numpyro need bayes-needs[fast])")
    group.add_argument("--draws", type=positive_int, default=None, help="draws per chain")
    group.add_argument("--tune", type=positive_int, default=None, help="tuning steps per chain")
    group.add_argument("--chains", type=positive_int, default=None, help="number of chains")
    group.add_argument("--target-accept", type=probability, default=None,
                       help="NUTS target acceptance rate")
    group.add_argument("--priors", type=existing_file, default=None,
                       help="prior file overriding default priors by variable name")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_allocation_options(parser: argparse.ArgumentParser) -> None:
    """--interval-prob, --interval-kind, --pot, --standardise."""
    group = parser.add_argument_group("allocation")
    group.add_argument("--interval-prob", type=probability, default=None,
                       help="credible interval probability (default 0.9)")
    group.add_argument("--interval-kind", choices=["eti", "hdi"], default=None,
                       help="equal-tailed (eti, default) or highest-density (hdi) intervals")
    group.add_argument("--pot", type=positive_float, default=None,
                       help="national pot to share out")
    group.add_argument("--standardise", choices=["la", "none", "all"], default=None,
                       help="marginalise LA effects (la, default), keep them (none), or "
                            "marginalise small-area effects too (all)")


def add_cost_weight_option(parser: argparse.ArgumentParser) -> None:
    """--cost-weights: cost-weight draws from 'bayes-needs costs' instead of fixed weights."""
    parser.add_argument("--cost-weights", type=existing_file, default=None, metavar="NC",
                        help="cost_weights.nc written by 'bayes-needs costs': allocate with "
                             "uncertain weights (paired draw by draw with demand) and write "
                             "decomposition.csv")


def apply_options(config: RunConfig, args: argparse.Namespace) -> RunConfig:
    """Override ``config`` with any options given on the command line."""
    get = lambda name: getattr(args, name, None)  # noqa: E731
    sampling = {"random_seed": get("seed"), "sampler": get("sampler"), "draws": get("draws"),
                "tune": get("tune"), "chains": get("chains"),
                "target_accept": get("target_accept")}
    if get("no_progress"):
        sampling["progressbar"] = False
    top = {}
    if get("priors") is not None:
        top["priors"] = str(Path(get("priors")).resolve())
    config = config.with_overrides(
        sampling=sampling,
        need={"standardise": get("standardise")},
        allocation={"interval_prob": get("interval_prob"),
                    "interval_kind": get("interval_kind"), "pot": get("pot")})
    if top:
        config = config.model_copy(update=top)
    return config
