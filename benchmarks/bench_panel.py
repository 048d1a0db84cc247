"""Benchmark: the England panel fit (DfE 2013 to ``--year``) end to end, with its gate.

Run with ``python -m benchmarks panel --data-dir DIR [--year 2024 --draws 1000 --tune 1000]``.
Prints ``panel_gradient_ms`` (median of repeated gradient evaluations),
``panel_fit_seconds`` (NUTS wall time), ``panel_max_rhat``, ``panel_min_ess_bulk``,
``panel_min_ess_tail``, ``panel_divergences``, ``panel_steps_per_draw`` and ``panel_gate``
(``passed`` or the reason it did not).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bayes_needs.checks.gate import check_convergence
from bayes_needs.core import convergence, defaults
from bayes_needs.core import idata as idata_io
from bayes_needs.data.readers.england_panel import england_panel_data
from bayes_needs.models.panel import PanelDemandModel


def gradient_ms(model: PanelDemandModel, repeats: int = 200) -> float:
    """Median milliseconds of one gradient evaluation of the log density at the start point."""
    pymc_model = model.built_model()
    logp_dlogp = pymc_model.compile_dlogp()
    point = pymc_model.initial_point()
    logp_dlogp(point)  # compile caches warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        logp_dlogp(point)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    """Fit the England panel and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks panel")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=defaults.RANDOM_SEED)
    args = parser.parse_args(argv)
    panel, _report = england_panel_data(args.data_dir)
    model = PanelDemandModel(panel.up_to(args.year))
    print(f"panel_gradient_ms={gradient_ms(model):.3f}", flush=True)
    start = time.perf_counter()
    fit = model.fit(random_seed=args.seed, draws=args.draws, tune=args.tune,
                    chains=args.chains, progressbar=False)
    print(f"panel_fit_seconds={time.perf_counter() - start:.1f}")
    summary = convergence.convergence_summary(
        fit, [v for v in model.MONITORED if v in idata_io.posterior(fit)])
    stats = idata_io.sample_stats(fit)
    print(f"panel_max_rhat={summary['rhat_max']:.4f}")
    print(f"panel_min_ess_bulk={summary['ess_bulk_min']:.0f}")
    print(f"panel_min_ess_tail={summary['ess_tail_min']:.0f}")
    print(f"panel_divergences={summary['divergences']}")
    if stats is not None:
        print(f"panel_steps_per_draw={float(stats['n_steps'].mean()):.1f}")
    failures = check_convergence(summary)
    print(f"panel_gate={'passed' if not failures else '; '.join(failures)}")
