"""``bayes-needs validate sbc``: simulation-based calibration of the area model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, get_args

import numpy as np

from bayes_needs.checks.sbc import SBCSettings
from bayes_needs.cli.common import (
    NameList,
    existing_file,
    non_negative_int,
    output_dir,
    positive_int,
)
from bayes_needs.cli.common import probability as probability_type
from bayes_needs.config.models import LA_PARAMETERISATIONS, Standardisation
from bayes_needs.config.run import METHODS
from bayes_needs.core import defaults, dims
from bayes_needs.core.executors import make_executor
from bayes_needs.core.progress import info
from bayes_needs.workflows.sbc import run_sbc, write_sbc

#: The settings' own defaults, shown and used as the options' defaults.
_DEFAULTS = SBCSettings()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` sub-command and its ``sbc`` action.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "validate", help="calibration checks of the models",
        description="Validation of the models against simulations from their own priors.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    sbc = actions.add_parser(
        "sbc", help="simulation-based calibration",
        description="Simulation-based calibration: each replicate draws parameters from the "
                    "priors, simulates counts on a fixed synthetic geography and observation "
                    "layout, refits with NUTS (or, with --method laplace, the Laplace "
                    "approximation) and ranks the prior draw among posterior draws. "
                    "Writes sbc.csv (per quantity: rank-uniformity p-value, 50% and 90% "
                    "interval coverage), ranks.csv, replicates.csv and sbc_ecdf.png into "
                    "--out.")
    sbc.add_argument("--model", choices=["area"], default="area", help="model to check")
    sbc.add_argument("--scale", choices=["tiny", "region", "england"], default=_DEFAULTS.scale,
                     help=f"synthetic geography (default {_DEFAULTS.scale}; tiny: 8 LAs, "
                          f"~60 MSOAs)")
    sbc.add_argument("--n-sims", type=positive_int, required=True, help="replicates")
    sbc.add_argument("--out", type=output_dir, required=True, help="output directory")
    sbc.add_argument("--seed", type=non_negative_int, default=defaults.RANDOM_SEED,
                     help=f"base seed; replicate i depends only on (i, seed, settings) "
                          f"(default {defaults.RANDOM_SEED})")
    sbc.add_argument("--data-seed", type=non_negative_int, default=_DEFAULTS.data_seed,
                     help=f"seed of the synthetic geography and observation layout (default "
                          f"{_DEFAULTS.data_seed})")
    sbc.add_argument("--services", action=NameList, known=dims.SERVICES, default=None,
                     metavar="NAME",
                     help=f"distinct services, comma- or space-separated (default "
                          f"{','.join(_DEFAULTS.services)})")
    sbc.add_argument("--method", choices=METHODS, default=_DEFAULTS.method,
                     help=f"how each replicate refits (default {_DEFAULTS.method}); with "
                          f"laplace, replicates.csv records each approximation's Pareto k-hat "
                          f"and whether the convergence gate would refuse it")
    sbc.add_argument("--draws", type=positive_int, default=_DEFAULTS.draws,
                     help=f"draws per chain (default {_DEFAULTS.draws})")
    sbc.add_argument("--tune", type=positive_int, default=_DEFAULTS.tune,
                     help=f"tuning steps per chain (default {_DEFAULTS.tune})")
    sbc.add_argument("--chains", type=positive_int, default=_DEFAULTS.chains,
                     help=f"chains per replicate (default {_DEFAULTS.chains})")
    sbc.add_argument("--target-accept", type=probability_type,
                     default=_DEFAULTS.target_accept,
                     help=f"NUTS target acceptance rate (default {_DEFAULTS.target_accept})")
    sbc.add_argument("--rank-draws", type=positive_int, default=_DEFAULTS.n_rank_draws,
                     help=f"posterior draws each prior draw is ranked among (thinned; "
                          f"default {_DEFAULTS.n_rank_draws})")
    sbc.add_argument("--standardise", choices=get_args(Standardisation),
                     default=_DEFAULTS.standardise,
                     help="needs standardisation of the tracked LA shares")
    sbc.add_argument("--la-parameterisation", choices=LA_PARAMETERISATIONS, default=None,
                     help="area model la_parameterisation (default adaptive)")
    sbc.add_argument("--priors", type=existing_file, default=None,
                     help="prior file overriding the default area priors")
    sbc.add_argument("--workers", type=positive_int, default=None,
                     help="worker processes (default: available CPUs; 1 runs in-process)")
    sbc.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="dask.distributed scheduler address (bayes-needs[distributed])")
    sbc.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run SBC and write its outputs.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    kwargs: dict[str, Any] = {"services": args.services} if args.services else {}
    if args.la_parameterisation is not None:
        kwargs["model"] = {"la_parameterisation": args.la_parameterisation}
    settings = SBCSettings(
        scale=args.scale, data_seed=args.data_seed,
        priors=str(Path(args.priors).resolve()) if args.priors else None,
        draws=args.draws, tune=args.tune, chains=args.chains,
        target_accept=args.target_accept, n_rank_draws=args.rank_draws,
        standardise=args.standardise, method=args.method, **kwargs)
    where = f"dask scheduler {args.scheduler}" if args.scheduler else \
        f"{args.workers or 'all available'} worker(s)"
    info(f"bayes-needs validate sbc: {args.n_sims} replicates of the {args.model} model at "
         f"{args.scale} scale ({args.method}) on {where} ...")
    with make_executor(args.workers, args.scheduler) as executor:
        result = run_sbc(settings, n_sims=args.n_sims, base_seed=args.seed,
                         executor=executor, progress=True)
    write_sbc(result, args.out)
    replicates = result.replicates
    failed = int((replicates["error"] != "").sum()) \
        if len(replicates) and "error" in replicates else 0
    summary = result.summary
    if len(summary):
        worst = summary.iloc[int(np.nanargmin(summary["p_value"].to_numpy(float)))]
        print(f"{len(summary)} quantities; smallest uniformity p-value {worst['p_value']:.3g} "
              f"({worst['quantity']}), Holm-adjusted {summary['p_value_holm'].min():.3g}; "
              f"mean coverage 50%: {summary['coverage_50'].mean():.1%}, 90%: "
              f"{summary['coverage_90'].mean():.1%}")
    if failed:
        print(f"warning: {failed} replicate(s) failed to fit; see replicates.csv",
              file=sys.stderr)
    refused = int((~replicates["gate_passed"].astype(bool)).sum()) \
        if args.method != "nuts" and "gate_passed" in replicates else 0
    if refused:
        print(f"note: the convergence gate would refuse {refused} of {len(replicates)} "
              f"approximate fits (Pareto k-hat; see replicates.csv)", file=sys.stderr)
    print(f"wrote {args.out / 'sbc.csv'}")
    return 0
