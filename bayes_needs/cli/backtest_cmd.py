"""``bayes-needs backtest``: rolling-origin forecasts of the panel, scored against later counts."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bayes_needs.cli.common import (
    NameList,
    existing_dir,
    existing_file,
    output_dir,
    positive_int,
)
from bayes_needs.cli.run_options import add_sampling_options, configure
from bayes_needs.config.run import load_run_config
from bayes_needs.core import defaults
from bayes_needs.core.executors import available_cpus, make_executor
from bayes_needs.core.progress import info
from bayes_needs.workflows import backtest
from bayes_needs.workflows.panel import load_panel_data

_RANGE = re.compile(r"^\s*(\d{4})\s*:\s*(\d{4})\s*$")
_YEAR = re.compile(r"^\s*(\d{4})\s*$")


def parse_origins(value: str) -> list[int]:
    """Parse ``--origins``: ``A:B`` (inclusive, ``A <= B``) or a comma list of years.

    Parameters
    ----------
    value
        The option's text, e.g. ``"2019:2024"`` or ``"2019,2021,2023"``.

    Returns
    -------
    list of int
        The years, ascending, without repeats.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else, saying what is expected.
    """
    expected = "expected A:B (e.g. 2019:2024, inclusive) or a comma list (e.g. 2019,2021)"
    span = _RANGE.match(value)
    if span:
        first, last = int(span.group(1)), int(span.group(2))
        if first > last:
            raise argparse.ArgumentTypeError(f"{value!r}: the range runs backwards; {expected}")
        return list(range(first, last + 1))
    parts = value.split(",")
    matches = [_YEAR.match(p) for p in parts]
    if not value.strip() or not all(matches):
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of years; {expected}")
    return sorted({int(m.group(1)) for m in matches if m})


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "backtest", help="rolling-origin backtest of panel forecasts",
        description="For each origin year T, fit each model on the counts up to T, forecast "
                    "T+1..T+H and score every forecast whose count was later observed "
                    "(coverage of the 50%% and 90%% intervals, interval score, CRPS). "
                    "Models: panel (the multi-year panel model), persistence (last count "
                    "scaled by the child population, negative binomial spread) and "
                    "single_year (the area model fitted on year T, carried forward by the "
                    "child population). Writes DIR/backtest.csv, DIR/backtest_cases.csv, "
                    "DIR/backtest.png and DIR/summary.txt as one set.")
    parser.add_argument("--config", type=existing_file, required=True,
                        help="run config of a panel (data source 'england_panel' or "
                             "'synthetic_panel'); its model, priors and sampling settings "
                             "are used for every fit")
    parser.add_argument("--data-dir", type=existing_dir, default=None,
                        help="directory of the real public data (overrides data.data_dir)")
    parser.add_argument("--origins", type=parse_origins, required=True, metavar="A:B|A,B,..",
                        help="origin years: a range A:B (inclusive) or a comma list")
    parser.add_argument("--horizon", type=positive_int, default=defaults.BACKTEST_HORIZON,
                        metavar="H",
                        help=f"years ahead forecast from each origin (default "
                             f"{defaults.BACKTEST_HORIZON})")
    # Names are checked (and ordered) by backtest.check_models, as for the Python API.
    parser.add_argument("--models", action=NameList, default=list(backtest.MODELS),
                        metavar="MODEL",
                        help=f"models compared, comma- or space-separated (default "
                             f"{','.join(backtest.MODELS)})")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="local worker processes running origins and models side by side "
                            "(default: one per job, at most the CPU count; 1 runs here)")
    where.add_argument("--scheduler", "--dask-scheduler", dest="scheduler", default=None,
                       metavar="ADDRESS",
                       help="address of a dask.distributed scheduler, e.g. "
                            "tcp://10.0.0.5:8786 (needs bayes-needs[distributed])")
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR",
                        help="output directory")
    add_sampling_options(parser)
    parser.set_defaults(func=run)


def _command(args: argparse.Namespace, config: Any) -> str:
    """Spell out the command that repeats this run (settings resolved, seed explicit)."""
    parts = ["bayes-needs", "backtest", "--config", str(args.config)]
    if args.data_dir:
        parts += ["--data-dir", str(args.data_dir)]
    parts += ["--origins", ",".join(map(str, args.origins)), "--horizon", str(args.horizon),
              "--models", ",".join(args.models), "--seed",
              str(config.sampling.random_seed)]
    s = config.sampling
    parts += ["--method", s.method, "--draws", str(s.draws), "--tune", str(s.tune), "--chains",
              str(s.chains)]
    if args.priors:
        parts += ["--priors", str(args.priors)]
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Run the backtest and write its files.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    config = configure(load_run_config(args.config), args, data={"data_dir": data_dir})
    models = backtest.check_models(args.models)
    start = time.perf_counter()
    info("bayes-needs backtest: loading data ...")
    panel, _info = load_panel_data(config)
    origins = backtest.check_origins(panel, args.origins)
    jobs = len(origins) * len(models)
    workers = args.workers or min(jobs, available_cpus())
    where = f"dask scheduler {args.scheduler}" if args.scheduler else \
        f"{workers} local worker process(es)"
    info(f"bayes-needs backtest: {jobs} jobs (origins {', '.join(map(str, origins))} x "
         f"{', '.join(models)}) on {where}")

    s = config.sampling
    with make_executor(workers, args.scheduler) as executor:
        result = backtest.run_backtest(config, panel, origins, horizon=args.horizon,
                                       models=models, executor=executor,
                                       n_draws=s.draws * s.chains,
                                       random_seed=s.random_seed, progress=True)
    paths = backtest.write_backtest(result, args.out, command=_command(args, config))
    columns = [c for c in ("model", "service", "horizon", "n", "coverage_50", "coverage_90",
                           "interval_score_90", "crps") if c in result.summary.columns]
    print(result.summary[columns].to_string(index=False, float_format="%.3f"))
    for note in result.notes:
        print(f"bayes-needs: note: {note}", file=sys.stderr)
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out} in "
          f"{time.perf_counter() - start:.1f} s")
    return 0
