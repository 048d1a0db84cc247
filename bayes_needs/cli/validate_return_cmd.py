"""``bayes-needs validate-return``: check data returns; exit 2 on any error."""

from __future__ import annotations

import argparse

from bayes_needs.cli.common import existing_dir, output_dir
from bayes_needs.core.defaults import RETURN_TOTAL_MIN_DIFFERENCE, RETURN_TOTAL_TOLERANCE
from bayes_needs.workflows import validate_return


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate-return`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "validate-return", help="check LAs' data returns (template CSV/XLSX or long CSV)",
        description="Check every problem of data returns at once: layout (sheets, columns, "
                    "template version), metadata (LA, level, year), area codes against the "
                    "geography, missing and duplicate areas, counts (whole numbers >= 0 or a "
                    "DfE mark) and each service's sum against the LA's published DfE total. "
                    "Exits 2 when there is an error; warnings (DfE marks, a total DfE did not "
                    "publish) do not fail.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="return files")
    parser.add_argument("--data-dir", type=existing_dir, required=True, metavar="DIR",
                        help="directory of the real public data")
    parser.add_argument("--out", type=output_dir, default=None, metavar="DIR",
                        help=f"write {validate_return.REPORT_JSON} and "
                             f"{validate_return.PROBLEMS_CSV} here")
    parser.add_argument("--tolerance", type=_fraction, default=RETURN_TOTAL_TOLERANCE,
                        metavar="FRACTION",
                        help=f"how far a service's sum may be from the published LA total, "
                             f"as a fraction of it (default {RETURN_TOTAL_TOLERANCE:g}; at "
                             f"least {RETURN_TOTAL_MIN_DIFFERENCE} children)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate, print the warnings and a summary; raise on errors.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code (errors raise, which the CLI turns into exit code 2).
    """
    result = validate_return.validate_return_files(args.files, args.data_dir,
                                                   out_dir=args.out, tolerance=args.tolerance)
    for problem in result.warnings:
        print(f"warning: {problem}")
    result.raise_errors()
    returns = result.returns
    assert returns is not None  # no errors
    print(f"valid: {len(result.files)} file(s), {len(returns)} counts of "
          f"{', '.join(returns.services)} in {returns.summary()['las']} LA(s), "
          f"{len(result.warnings)} warning(s)")
    return 0


def _fraction(value: str) -> float:
    """Parse a tolerance in [0, 1) (an argparse type)."""
    try:
        parsed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 <= parsed < 1:
        raise argparse.ArgumentTypeError(f"must be >= 0 and < 1, got {value}")
    return parsed
