"""``bayes-needs template``: write a data-return template (CSV and XLSX) for one LA."""

from __future__ import annotations

import argparse

from bayes_needs.cli.common import NameList, existing_dir, output_dir, positive_int, print_json
from bayes_needs.core import dims
from bayes_needs.workflows import template


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``template`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "template", help="write a data-return template (CSV and XLSX) for one LA",
        description="Write a template an LA fills in with counts per LSOA or MSOA (2011 "
                    "census areas) for one DfE reporting year: a CSV file and an XLSX "
                    "workbook with the LA's areas and names prefilled, one column per "
                    "service, a metadata sheet and a notes sheet of definitions. Check the "
                    "filled return with 'bayes-needs validate-return'.")
    parser.add_argument("--la", required=True, metavar="CODE",
                        help="the LA's code (upper-tier LA of 2023, e.g. E06000001)")
    parser.add_argument("--level", required=True, choices=(dims.LSOA, dims.MSOA),
                        help="the areas counts are given for")
    parser.add_argument("--services", required=True, action=NameList, metavar="S",
                        help="services to collect (comma- or space-separated), from "
                             "referrals, cin, cpp, cla")
    parser.add_argument("--year", required=True, type=positive_int,
                        help="DfE reporting year, e.g. 2024 for the year to 31 March 2024")
    parser.add_argument("--data-dir", type=existing_dir, required=True, metavar="DIR",
                        help="directory of the real public data (the geography)")
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                        help="output directory")
    parser.add_argument("--json", action="store_true",
                        help="print what was written as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the template and say what was written.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    services = list(args.services)
    written = template.write_template(args.data_dir, args.la, args.level, services,
                                      args.year, args.out)
    if args.json:
        print_json(written)
    else:
        print(f"template for {written['la_code']} {written['la_name']}: {written['areas']} "
              f"{args.level.upper()}s x {', '.join(services)}, year {args.year}; wrote "
              f"{', '.join(str(args.out / f) for f in written['files'])}")
    return 0
