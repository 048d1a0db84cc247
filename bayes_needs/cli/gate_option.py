"""``--allow-unconverged`` and the convergence-gate warning of commands that allocate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_needs.checks.gate import (
    DEFAULT_THRESHOLDS,
    OVERRIDE_FLAG,
    GateResult,
    warning_text,
)


def add_gate_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-unconverged``.

    Parameters
    ----------
    parser
        The sub-command's parser.
    """
    t = DEFAULT_THRESHOLDS
    parser.add_argument(OVERRIDE_FLAG, dest="allow_unconverged", action="store_true",
                        help=f"allocate even if the fit misses the convergence thresholds "
                             f"(R-hat <= {t.rhat_max}, bulk/tail ESS >= {t.ess_min:g}, "
                             f"divergences <= {t.divergences_max}; an approximate fit: "
                             f"Pareto k-hat <= {t.pareto_k_max:g}); recorded in summary.txt "
                             f"and allocation.nc")


def warn_if_failed(gate: GateResult | None, source: Path | str) -> None:
    """Print a warning on stderr when a fit missed the gate but was allocated from anyway.

    Parameters
    ----------
    gate
        The gate result (``None``: nothing was allocated).
    source
        The fit, as named in the warning.
    """
    if gate is None or gate.passed:
        return
    reason = f" ({OVERRIDE_FLAG} given)" if gate.allowed_unconverged else ""
    print(f"bayes-needs: {warning_text(gate, str(source))}{reason}", file=sys.stderr)
