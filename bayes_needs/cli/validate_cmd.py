"""``bayes-needs validate sbc``: simulation-based calibration of the area model."""

from __future__ import annotations

import argparse
import sys

from bayes_needs.cli.common import existing_file, non_negative_int, output_dir, positive_int
from bayes_needs.cli.common import probability as probability_type


def _services(value: str) -> tuple[str, ...]:
    from bayes_needs.core import dims

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = sorted(set(names) - set(dims.SERVICES))
    if not names or unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected distinct comma-separated services from {list(dims.SERVICES)}, got "
            f"{value!r}")
    return names


#: Mirrors ``bayes_needs.models.area.LA_PARAMETERISATIONS`` without importing PyMC here.
LA_PARAMETERISATIONS = ("adaptive", "centred", "noncentred")


def register(subparsers) -> None:
    """Add the ``validate`` sub-command and its ``sbc`` action."""
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
                    "layout, refits with NUTS and ranks the prior draw among posterior draws. "
                    "Writes sbc.csv (per quantity: rank-uniformity p-value, 50% and 90% "
                    "interval coverage), ranks.csv, replicates.csv and sbc_ecdf.png into "
                    "--out.")
    sbc.add_argument("--model", choices=["area"], default="area", help="model to check")
    sbc.add_argument("--scale", choices=["tiny", "region", "england"], default="tiny",
                     help="synthetic geography (default tiny: 8 LAs, ~60 MSOAs)")
    sbc.add_argument("--n-sims", type=positive_int, required=True, help="replicates")
    sbc.add_argument("--out", type=output_dir, required=True, help="output directory")
    sbc.add_argument("--seed", type=non_negative_int, default=20240331,
                     help="base seed; replicate i depends only on (i, seed, settings)")
    sbc.add_argument("--data-seed", type=non_negative_int, default=0,
                     help="seed of the synthetic geography and observation layout")
    sbc.add_argument("--services", type=_services, default=None,
                     help="comma-separated services (default cin,cla)")
    sbc.add_argument("--draws", type=positive_int, default=1000, help="draws per chain")
    sbc.add_argument("--tune", type=positive_int, default=500, help="tuning steps per chain")
    sbc.add_argument("--chains", type=positive_int, default=2, help="chains per replicate")
    sbc.add_argument("--target-accept", type=probability_type, default=0.9,
                     help="NUTS target acceptance rate")
    sbc.add_argument("--rank-draws", type=positive_int, default=99,
                     help="posterior draws each prior draw is ranked among (thinned)")
    sbc.add_argument("--standardise", choices=["la", "none", "all"], default="la",
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
    """Run SBC and write its outputs."""
    from pathlib import Path

    from bayes_needs.checks.sbc import SBCSettings, print_progress, run_sbc, write_sbc
    from bayes_needs.core.executors import make_executor

    kwargs = {"services": args.services} if args.services else {}
    if args.la_parameterisation is not None:
        kwargs["model"] = {"la_parameterisation": args.la_parameterisation}
    settings = SBCSettings(
        scale=args.scale, data_seed=args.data_seed,
        priors=str(Path(args.priors).resolve()) if args.priors else None,
        draws=args.draws, tune=args.tune, chains=args.chains,
        target_accept=args.target_accept, n_rank_draws=args.rank_draws,
        standardise=args.standardise, **kwargs)
    where = f"dask scheduler {args.scheduler}" if args.scheduler else \
        f"{args.workers or 'all available'} worker(s)"
    print(f"bayes-needs validate sbc: {args.n_sims} replicates of the {args.model} model at "
          f"{args.scale} scale on {where} ...", file=sys.stderr, flush=True)
    with make_executor(args.workers, args.scheduler) as executor:
        result = run_sbc(settings, n_sims=args.n_sims, base_seed=args.seed,
                         executor=executor, progress=print_progress)
    write_sbc(result, args.out)
    failed = int((result.replicates.get("error", "") != "").sum()) \
        if len(result.replicates) else 0
    summary = result.summary
    if len(summary):
        worst = summary.loc[summary["p_value"].idxmin()]
        print(f"{len(summary)} quantities; smallest uniformity p-value {worst['p_value']:.3g} "
              f"({worst['quantity']}), Holm-adjusted {summary['p_value_holm'].min():.3g}; "
              f"mean coverage 50%: {summary['coverage_50'].mean():.1%}, 90%: "
              f"{summary['coverage_90'].mean():.1%}")
    if failed:
        print(f"warning: {failed} replicate(s) failed to fit; see replicates.csv",
              file=sys.stderr)
    print(f"wrote {args.out / 'sbc.csv'}")
    return 0
