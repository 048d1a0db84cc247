"""Benchmark: allocation of 4 chains x 1,000 draws x 153 LAs x 5 services with full summaries.

Target: under 1 s and under 1 GB. Run with ``python -m benchmarks.bench_allocation``; prints
``allocation_seconds=<median of repeats>`` and ``allocation_peak_mb=<tracemalloc peak>``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import xarray as xr

from bayes_needs.allocation import Damping, allocate
from bayes_needs.core import dims

N_CHAIN, N_DRAW, N_LA = 4, 1000, 153


def make_inputs(random_seed: int) -> tuple[xr.DataArray, xr.DataArray, dict[str, float]]:
    """Synthetic demand draws, cost-weight draws and baseline amounts."""
    rng = np.random.default_rng(random_seed)
    la_codes = [f"E{i:08d}" for i in range(N_LA)]
    services = list(dims.SERVICES)
    scale = rng.lognormal(3.0, 1.0, size=(N_LA, len(services)))
    need = xr.DataArray(
        rng.gamma(50.0, scale / 50.0, size=(N_CHAIN, N_DRAW, N_LA, len(services))),
        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
        coords={dims.LA: la_codes, dims.SERVICE: services,
                "la_name": (dims.LA, [f"Authority {i}" for i in range(N_LA)])})
    weights = xr.DataArray(rng.lognormal(0.0, 0.2, size=(N_CHAIN, N_DRAW, len(services))),
                           dims=(dims.CHAIN, dims.DRAW, dims.SERVICE),
                           coords={dims.SERVICE: services})
    baseline = dict(zip(la_codes, scale.sum(axis=1) * rng.lognormal(0.0, 0.05, N_LA),
                        strict=True))
    return need, weights, baseline


def run_once(need: xr.DataArray, weights: xr.DataArray, baseline: dict[str, float]) -> None:
    """Allocation with damping, a pot and the full per-LA summary."""
    allocation = allocate(need, weights, pot=2.5e9, baseline=baseline,
                          damping=Damping(floor=-0.05, cap=0.10), interval_prob=0.9,
                          interval_kind="eti", random_seed=0)
    allocation.summary()


def main(argv: list[str] | None = None) -> None:
    """Time :func:`run_once` (median of repeats) and measure its peak traced memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--random-seed", type=int, default=20240401)
    args = parser.parse_args(argv)
    need, weights, baseline = make_inputs(args.random_seed)
    run_once(need, weights, baseline)  # warm-up: imports and caches
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run_once(need, weights, baseline)
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    run_once(need, weights, baseline)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"allocation_seconds={statistics.median(seconds):.4f}")
    print(f"allocation_peak_mb={peak / 2**20:.1f}")


if __name__ == "__main__":
    main()
