"""Command-line interface: ``bayes-needs <command> ...``.

Each command lives in its own module in this package exposing ``register(subparsers)``, which
adds a sub-parser and sets ``func`` to the function that runs it. Modules are imported lazily
per command so ``bayes-needs data`` does not pay for importing PyMC.

User mistakes (:class:`~bayes_needs.core.errors.BayesNeedsError`, missing files, bad arguments)
and outputs that cannot be written (a full disk) print one clear message to stderr and exit
with code 2; they never show a traceback. SIGINT, SIGTERM and SIGHUP stop a run cleanly (no
partial output files) with exit code 130, 143 or 129.

A command's output directory (``--out``, else the run directory it writes into) is locked
before the command starts (:func:`bayes_needs.core.outputs.locked_directory`), so a second run
into it stops at once instead of after its fit.

``--quiet`` (before or after the command) turns off progress bars and informational lines on
stderr (:mod:`bayes_needs.core.progress`); results on stdout, warnings and errors still print.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bayes_needs.core import progress
from bayes_needs.core.errors import BayesNeedsError
from bayes_needs.core.interrupts import terminate_as_interrupt
from bayes_needs.core.outputs import locked_directory
from bayes_needs.core.version import __version__

#: (command name, module, one-line help). Order is the order shown by ``--help``.
COMMANDS: list[tuple[str, str, str]] = [
    ("data", "bayes_needs.cli.data_cmd", "load and summarise input data"),
    ("demo", "bayes_needs.cli.demo_cmd", "run synthetic England end to end"),
    ("fit", "bayes_needs.cli.fit_cmd", "fit the area demand model to real or file inputs"),
    ("allocate", "bayes_needs.cli.allocate_cmd", "turn a fit into LA shares with intervals"),
    ("costs", "bayes_needs.cli.costs_cmd", "fit uncertain relative cost weights to RO3 spend"),
    ("compare", "bayes_needs.cli.compare_cmd",
     "compare the area- and person-based approaches on synthetic data"),
    ("validate", "bayes_needs.cli.validate_cmd",
     "simulation-based calibration of the area model"),
    ("sensitivity", "bayes_needs.cli.sensitivity_cmd",
     "run a scenario file and compare allocations with the base"),
    ("design", "bayes_needs.cli.design_cmd",
     "value candidate LSOA/MSOA returns: expected narrowing of each LA's share"),
    ("backtest", "bayes_needs.cli.backtest_cmd", "rolling-origin backtest of panel forecasts"),
    ("report", "bayes_needs.cli.report_cmd",
     "write an HTML report of a run directory: money per LA, then diagnostics"),
    ("template", "bayes_needs.cli.template_cmd",
     "write a data-return template (CSV and XLSX) for one LA"),
    ("validate-return", "bayes_needs.cli.validate_return_cmd",
     "check LAs' data returns (template CSV/XLSX or long CSV)"),
]

EXIT_USER_ERROR = 2
#: Exit code after SIGINT (Ctrl-C); SIGTERM gives 143, SIGHUP 129: 128 + the signal number.
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """Argument parser whose errors name the program and exit 2 (argparse's own convention)."""


#: Help of ``--quiet``, accepted before or after the command.
QUIET_HELP = "no progress bars or informational lines on stderr (errors and warnings still print)"


class _CommandParser(_Parser):
    """A command's parser: also takes ``--quiet`` after the command name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.add_help:
            # SUPPRESS: absent here, it does not reset a --quiet given before the command.
            self.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                              help=QUIET_HELP)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only ``selected`` (if given) has its module imported.

    Parameters
    ----------
    selected
        The command given, whose sub-parser is built in full; the others are listed only.

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = _Parser(prog="bayes-needs",
                     description="Bayesian relative-needs funding formulae for English local "
                                 "authorities' children's services.")
    parser.add_argument("--version", action="version", version=f"bayes-needs {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    for name, module, help_text in COMMANDS:
        if selected == name:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _quiet_library_noise() -> None:
    """Hide library warnings that say nothing actionable to a CLI user.

    Our own summaries report convergence explicitly.
    """
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    warnings.filterwarnings("ignore", message=".*at least 4 chains.*")
    logging.getLogger("pytensor.tensor.blas").setLevel(logging.ERROR)


@contextlib.contextmanager
def _library_logs_quiet(quiet: bool) -> Iterator[None]:
    """With ``--quiet``, hide PyMC's log lines: start-up notes and convergence chatter.

    Our convergence gate prints its own warning.
    """
    logger = logging.getLogger("pymc")
    level = logger.level
    if quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code.

    Parameters
    ----------
    argv
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a user error, 128 + the signal number when interrupted.
    """
    _quiet_library_noise()
    progress.set_quiet(False)
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    known = {name for name, _, _ in COMMANDS}
    try:
        # SIGTERM (e.g. a scheduler stopping a job) cleans up like Ctrl-C does.
        with terminate_as_interrupt():
            parser = build_parser(selected if selected in known else None)
            args = parser.parse_args(argv)
            progress.set_quiet(getattr(args, "quiet", False))
            if not getattr(args, "command", None) or not hasattr(args, "func"):
                parser.print_help()
                return 0 if not argv else EXIT_USER_ERROR
            out_dir = output_directory(args)
            with (contextlib.nullcontext() if out_dir is None else locked_directory(out_dir),
                  _library_logs_quiet(progress.is_quiet())):
                result = args.func(args)
            return int(result or 0)
    except BayesNeedsError as exc:
        _report(str(exc))
        return EXIT_USER_ERROR
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        _report(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        _report(f"interrupted ({signal.Signals(signum).name}); no partial outputs were left "
                f"behind")
        return 128 + int(signum)
    except SystemExit as exc:  # argparse
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USER_ERROR


def output_directory(args: argparse.Namespace) -> Path | None:
    """Return the directory a parsed command writes: ``--out``, else its run directory."""
    out = getattr(args, "out", None) or getattr(args, "run_dir", None)
    return None if out is None else Path(out)


def _report(message: str) -> None:
    """Print a user error on stderr (not at all if stderr is gone, as after SIGHUP)."""
    with contextlib.suppress(OSError):
        print(f"bayes-needs: error: {message}", file=sys.stderr)


def run() -> None:
    """Console-script entry point."""
    code = main()
    sys.stdout.flush()
    os._exit(code) if os.environ.get("BAYES_NEEDS_FAST_EXIT") else sys.exit(code)
