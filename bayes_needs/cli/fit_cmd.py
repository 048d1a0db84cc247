"""``bayes-needs fit``: fit the area demand model to real or file inputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_needs.cli.common import existing_dir, existing_file, output_dir
from bayes_needs.cli.gate_option import add_gate_option, gate_fit
from bayes_needs.cli.run_options import add_allocation_options, add_sampling_options, apply_options
from bayes_needs.config.run import RunConfig, load_run_config


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Options saying where the data are (overriding the run config)."""
    group = parser.add_argument_group("data")
    group.add_argument("--config", type=existing_file, default=None,
                       help="run config (TOML/YAML); see examples/")
    group.add_argument("--data-dir", type=existing_dir, default=None,
                       help="directory of the real public data (source 'england')")
    group.add_argument("--year", type=int, default=None,
                       help="DfE reporting year, e.g. 2024 for 31 March 2024")
    group.add_argument("--geography", type=existing_file, default=None,
                       help="CSV lsoa_code,msoa_code,la_code[,names] (source 'files')")
    group.add_argument("--lsoa-table", type=existing_file, default=None,
                       help="CSV lsoa_code,children,<covariates> (source 'files')")
    group.add_argument("--counts", type=existing_file, default=None,
                       help="CSV service,level,area_code,count (source 'files')")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run config from --config plus command-line overrides."""
    config = load_run_config(args.config) if args.config else RunConfig()
    data = {"data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
            "year": args.year}
    files = {"geography": args.geography, "lsoa_table": args.lsoa_table, "counts": args.counts}
    if any(files.values()):
        data.update({k: str(Path(v).resolve()) if v else None for k, v in files.items()})
        data["source"] = "files"
    config = config.with_overrides(data=data)
    return apply_options(config, args)


def register(subparsers) -> None:
    """Add the ``fit`` sub-command."""
    parser = subparsers.add_parser(
        "fit", help="fit the area demand model to real or file inputs",
        description="Fit the area demand model and write fit.nc and run.json into --out. "
                    "Real England: --data-dir DIR --year 2024 (with --config "
                    "examples/england_area.toml).")
    add_data_options(parser)
    parser.add_argument("--out", type=output_dir, required=True, help="run directory")
    parser.add_argument("--allocate", action="store_true",
                        help="also compute need and allocations (as 'bayes-needs allocate')")
    add_sampling_options(parser)
    add_allocation_options(parser)
    add_gate_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit and write the run directory."""
    from bayes_needs.checks.gate import record_in_allocation
    from bayes_needs.core.errors import ConvergenceError
    from bayes_needs.workflows import pipeline

    config = config_from_args(args)
    print("bayes-needs fit: loading data ...", file=sys.stderr)
    fit = pipeline.fit_area(config)
    if args.allocate:
        try:
            gate = gate_fit(fit, args, args.out / pipeline.FIT_FILE)
        except ConvergenceError as exc:
            # Keep the fit, so it can be inspected or allocated later without refitting.
            pipeline.write_fit(fit, args.out)
            raise ConvergenceError(f"{exc}. The fit was written to {args.out} (no "
                                   f"allocations)") from None
        # One output set, so an interrupt cannot leave a fit without its allocations.
        need, allocation = pipeline.need_and_allocation(fit)
        record_in_allocation(allocation, gate)
        pipeline.write_run(fit, need, allocation, args.out, extra=gate.summary_lines())
    else:
        pipeline.write_fit(fit, args.out)
    conv = pipeline.convergence(fit.idata)
    print(f"fit written to {args.out / pipeline.FIT_FILE} (max R-hat {conv['rhat_max']:.3f}, "
          f"min bulk ESS {conv['ess_bulk_min']:.0f}, divergences {conv['divergences']})")
    if args.allocate:
        print(f"allocations written to {args.out / pipeline.ALLOCATIONS_CSV}")
    return 0
