"""``bayes-needs fit``: fit the area demand model to real or file inputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bayes_needs.checks.gate import CLI_HINTS
from bayes_needs.cli.common import existing_dir, existing_file, output_dir, whole_number
from bayes_needs.cli.gate_option import add_gate_option, warn_if_failed
from bayes_needs.cli.run_options import add_allocation_options, add_sampling_options, configure
from bayes_needs.config.run import RunConfig, load_run_config
from bayes_needs.core.convergence import describe_method, is_approximate
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.progress import info
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.runs import fit_run


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Add the options saying where the data are (overriding the run config).

    Parameters
    ----------
    parser
        The sub-command's parser.
    """
    group = parser.add_argument_group("data")
    group.add_argument("--config", type=existing_file, default=None,
                       help="run config (TOML/YAML); see examples/")
    group.add_argument("--data-dir", type=existing_dir, default=None,
                       help="directory of the real public data (source 'england')")
    group.add_argument("--year", type=whole_number, default=None,
                       help="DfE reporting year, e.g. 2024 for 31 March 2024")
    group.add_argument("--geography", type=existing_file, default=None,
                       help="CSV lsoa_code,msoa_code,la_code[,names] (source 'files')")
    group.add_argument("--lsoa-table", type=existing_file, default=None,
                       help="CSV lsoa_code,children,<covariates> (source 'files')")
    group.add_argument("--counts", type=existing_file, default=None,
                       help="CSV service,level,area_code,count (source 'files')")


#: Data options and the data sources that read them: given for another source, an option
#: would be ignored, so it is refused.
SOURCES_READING: dict[str, tuple[str, ...]] = {
    "data_dir": ("england", "england_panel"),
    "year": ("england", "files", "england_panel", "synthetic_panel"),
}
FILE_OPTIONS = {"geography": "--geography", "lsoa_table": "--lsoa-table", "counts": "--counts"}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Read ``--config`` (or take the defaults) and apply the command-line options once.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    RunConfig
        The validated config the fit runs with.

    Raises
    ------
    ConfigError
        If ``--data-dir`` or ``--year`` is given for a data source that does not read it,
        naming the option and what chose the source.
    """
    config = load_run_config(args.config) if args.config else RunConfig()
    data: dict[str, Any] = {
        "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
        "year": args.year}
    files = {"geography": args.geography, "lsoa_table": args.lsoa_table, "counts": args.counts}
    if any(files.values()):
        data.update({k: str(Path(v).resolve()) if v else None for k, v in files.items()})
        data["source"] = "files"
    config = configure(config, args, data=data)
    source = config.data.source
    for option, sources in SOURCES_READING.items():
        if getattr(args, option) is not None and source not in sources:
            given = [FILE_OPTIONS[k] for k, v in files.items() if v]
            chosen = f"the file inputs {'/'.join(given)}" if given else \
                f"data source '{source}' (from {args.config or 'the defaults'})"
            raise ConfigError(f"--{option.replace('_', '-')} cannot be used with {chosen}: "
                              f"it is read only for data source(s) {list(sources)}, so it "
                              f"would be ignored; give one or the other")
    return config


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fit`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
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
    """Fit and write the run directory.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    config = config_from_args(args)
    info("bayes-needs fit: loading data ...")
    outcome = fit_run(config, args.out, with_allocation=args.allocate,
                      allow_unconverged=args.allow_unconverged, gate_hints=CLI_HINTS)
    warn_if_failed(outcome.gate, args.out / pipeline.FIT_FILE)
    conv = pipeline.convergence(outcome.fit.idata)
    about = describe_method(conv) if is_approximate(conv) else \
        f"max R-hat {conv['rhat_max']:.3f}, min bulk ESS {conv['ess_bulk_min']:.0f}, " \
        f"divergences {conv['divergences']}"
    print(f"fit written to {args.out / pipeline.FIT_FILE} ({about})")
    if args.allocate:
        print(f"allocations written to {args.out / pipeline.ALLOCATIONS_CSV}")
    return 0
