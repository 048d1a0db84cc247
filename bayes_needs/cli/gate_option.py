"""``--allow-unconverged`` and the convergence gate for commands that allocate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_needs.checks.gate import OVERRIDE_FLAG, GateResult, enforce, evaluate, warning_text


def add_gate_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-unconverged``."""
    parser.add_argument(OVERRIDE_FLAG, dest="allow_unconverged", action="store_true",
                        help="allocate even if the fit misses the convergence thresholds "
                             "(R-hat <= 1.01, bulk/tail ESS >= 400, no divergences); "
                             "recorded in summary.txt and allocation.nc")


def gate_fit(fit, args: argparse.Namespace, source: Path | str) -> GateResult:
    """Refuse an unconverged fit unless ``--allow-unconverged`` (then warn on stderr)."""
    from bayes_needs.workflows.pipeline import convergence

    result = enforce(convergence(fit.idata),
                     allow_unconverged=getattr(args, "allow_unconverged", False),
                     source=str(source))
    if not result.passed:
        print(f"bayes-needs: {warning_text(result, str(source))} ({OVERRIDE_FLAG} given)",
              file=sys.stderr)
    return result


def record_only(fit, source: Path | str) -> GateResult:
    """Evaluate the gate without refusing; warn on stderr when it fails."""
    from bayes_needs.workflows.pipeline import convergence

    result = evaluate(convergence(fit.idata))
    if not result.passed:
        print(f"bayes-needs: {warning_text(result, str(source))}", file=sys.stderr)
    return result
