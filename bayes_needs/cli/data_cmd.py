"""``bayes-needs data``: load and summarise input data.

``bayes-needs data england --data-dir DIR --year 2024 [--json]`` builds the England area data
from the real public files (see :func:`bayes_needs.data.readers.england.england_area_data`)
and prints a summary: area counts, observed and missing LAs per service, covariates and
exposure. With ``--json`` it prints exactly one JSON object. It does not import PyMC: this
module imports the data layer only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bayes_needs.cli.common import NameList, existing_dir, positive_int, print_json
from bayes_needs.core.errors import ConfigError
from bayes_needs.data.readers.england import (
    DEFAULT_COVARIATES,
    DEFAULT_SERVICES,
    EnglandDataReport,
    england_area_data,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command and its ``england`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "data", help="load and summarise input data",
        description="Load input data, validate it and print a summary.")
    sources = parser.add_subparsers(dest="source", metavar="SOURCE",
                                    parser_class=type(parser))
    england = sources.add_parser(
        "england", help="England LA/MSOA/LSOA area data from the public DfE/ONS/IoD files",
        description="Build the England area data for one DfE reporting year (counts on or to "
                    "31 March YEAR) and summarise it.")
    england.add_argument("--data-dir", type=existing_dir, required=True, metavar="DIR",
                         help="directory holding the public data files (iod2019/, lookups/, "
                              "population/, dfe_csc/)")
    england.add_argument("--year", type=positive_int, default=2024,
                         help="DfE reporting year, e.g. 2024 for 31 March 2024 (default 2024)")
    england.add_argument("--services", action=NameList, default=DEFAULT_SERVICES,
                         metavar="NAME",
                         help=f"services, comma- or space-separated (default: "
                              f"{','.join(DEFAULT_SERVICES)})")
    england.add_argument("--covariates", action=NameList, default=DEFAULT_COVARIATES,
                         metavar="NAME",
                         help=f"IoD2019 covariates, comma- or space-separated (default: "
                              f"{','.join(DEFAULT_COVARIATES)})")
    england.add_argument("--no-rescale-exposure", dest="rescale_exposure",
                         action="store_false",
                         help="use ONS mid-2019 LSOA children as is, without rescaling to "
                              "DfE's LA population for mid-year YEAR-1")
    england.add_argument("--json", action="store_true",
                         help="print one JSON object instead of a readable summary")
    england.set_defaults(func=run_england)
    parser.set_defaults(func=_missing_source(parser))


def run_england(args: argparse.Namespace) -> int:
    """Build England area data and print its summary.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    _, report = england_area_data(args.data_dir, args.year, services=args.services,
                                  covariates=args.covariates,
                                  rescale_exposure=args.rescale_exposure)
    if args.json:
        print_json(report.to_dict())
    else:
        print(format_report(report))
    return 0


def format_report(report: EnglandDataReport) -> str:
    """Format an England data report as a readable multi-line summary.

    Parameters
    ----------
    report
        The report of :func:`~bayes_needs.data.readers.england.england_area_data`.

    Returns
    -------
    str
        The summary.
    """
    lines = [
        f"England area data, DfE reporting year {report.year} (31 March {report.year})",
        f"  areas:      {report.n_lsoa:,} LSOAs in {report.n_msoa:,} MSOAs in "
        f"{report.n_la} upper-tier LAs (April 2023)",
        f"  covariates: {', '.join(report.covariates)} (IoD2019; IDACI numerator imputed "
        f"for {report.idaci_imputed:,} LSOAs where it was suppressed)",
        f"  exposure:   {report.exposure}",
    ]
    if report.exposure_las_without_total:
        lines.append(f"              no DfE LA population for "
                     f"{', '.join(report.exposure_las_without_total)}; scaled by the "
                     f"England-wide ratio")
    lines.append("")
    lines.append(f"  {'service':<10} {'observed LAs':>12} {'missing':>8}  missing LAs (code)")
    suppressed = report.suppressed
    for service in report.services:
        rows = report.missing[report.missing["service"] == service]
        detail = "; ".join(f"{name} {code}: {flag}" for code, name, flag in
                           zip(rows["la_code"], rows["la_name"], rows["code"], strict=True))
        lines.append(f"  {service:<10} {report.observed[service]:>12} "
                     f"{suppressed[service]:>8}  {detail or '-'}")
    harmonised = report.harmonised
    if len(harmonised):
        lines.append("")
        lines.append(f"  {len(harmonised)} count(s) built from predecessor LAs (codes "
                     f"published before reorganisation):")
        for name, group in harmonised.groupby("service", sort=False):
            lines.append(f"    {name}: " + ", ".join(
                f"{code} ({origin})" for code, origin in
                zip(group["la_code"], group["origin"], strict=True)))
    return "\n".join(lines)


def _missing_source(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Make the ``func`` of ``bayes-needs data`` without a source: a usage error."""
    def run(_args: argparse.Namespace) -> int:
        raise ConfigError("say which data to load, e.g. 'bayes-needs data england --data-dir "
                          "DIR'\n" + parser.format_usage().strip())
    return run
