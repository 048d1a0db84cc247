"""Benchmark runner: ``python -m benchmarks NAME [options]``.

Names: ``area_national`` (naive baseline vs bayes_needs area model), ``allocation``
(allocation step at 4,000 draws x 153 LAs x 5 services), ``pbra`` (person-based collapse
scaling, collapsed vs row-level, England-scale end-to-end fit), ``panel`` (the England panel
fit with its convergence gate), ``approx`` (the Laplace approximation against NUTS on real
England and synthetic region data).
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "area_national": "benchmarks.area_national",
    "allocation": "benchmarks.bench_allocation",
    "pbra": "benchmarks.bench_pbra",
    "panel": "benchmarks.bench_panel",
    "approx": "benchmarks.bench_approx",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a benchmark module's ``main``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m benchmarks {{{','.join(BENCHMARKS)}}} [options]",
              file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
