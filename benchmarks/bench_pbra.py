"""Benchmark: person-based resource allocation at national scale.

Run with ``python -m benchmarks pbra PART [options]`` (or ``python -m benchmarks.bench_pbra``):

``collapse``
    Synthetic England child records (coverage 1.0: one Parquet row per child, 12.1M rows)
    thinned at random to 1M and 4M children; for each size the Parquet collapse time (median
    of repeats, each in a fresh process), the extra resident memory it needs (sampled while it
    runs, less the size before), the number of distinct
    cells, and the gradient time of the collapsed model built on those cells. The cost of a
    gradient follows the cells, not the children. Optionally (``--dask``) the same collapse of
    the largest file on a local ``dask.distributed`` cluster.
``rows``
    Collapsed vs row-level likelihood on about 200k children: both fitted with NUTS (same
    seeds and settings), posterior means compared within Monte Carlo error, and the speed
    ratios of a gradient and of the whole fit printed side by side.
``fit``
    End to end at England scale: 80% coverage records (9.7M rows) in Parquet -> collapse ->
    top-up to ONS (12.1M children) -> NUTS -> need -> allocation; convergence (R-hat, ESS,
    divergences, leapfrog steps per draw), the convergence gate
    (:func:`bayes_needs.checks.gate.check_convergence`), the coverage of the true needs shares
    by the 90% intervals, the wall time from collapse to allocation and the load average.
    Draws and tuning steps default to the package's (1000 each); ``--sampler`` to the
    package's sampler.

Every figure is printed as ``name=value``; ``--workdir`` keeps the generated Parquet files
between runs (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SERVICES = ("referrals", "cin", "cpp", "cla", "cla_weeks")
CHILD_COVARIATES = ("fsm",)
SIZES = (1_000_000, 4_000_000)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _england(workdir: Path, *, coverage: float, data_seed: int = 0):
    """Synthetic England, its persons and their Parquet file (written once per workdir)."""
    from bayes_needs.simulate.area import generate_area
    from bayes_needs.simulate.person import generate_persons

    synthetic = generate_area("england", random_seed=data_seed)
    persons = generate_persons(synthetic, random_seed=data_seed + 1, coverage=coverage)
    path = workdir / f"england_seed{data_seed}_coverage{coverage:g}.parquet"
    if not path.exists():
        start = time.perf_counter()
        persons.to_parquet(path)
        print(f"parquet_write_seconds[{path.name}]={time.perf_counter() - start:.1f}")
    return synthetic, persons, path


def _thinned(path: Path, n: int, seed: int) -> Path:
    """A random subset of ``n`` rows of ``path``, written next to it (once)."""
    import pyarrow.parquet as pq

    out = path.with_name(f"{path.stem}_n{n}.parquet")
    if not out.exists():
        table = pq.read_table(path)
        keep = np.sort(np.random.default_rng(seed).choice(table.num_rows, n, replace=False))
        pq.write_table(table.take(keep), out, row_group_size=500_000)
    return out


# ====================================================================== collapse
def collapse_one(path: str) -> None:
    """Child-process entry: collapse ``path`` once, print JSON with time, memory and cells."""
    from bayes_needs.data.person import collapse_parquet
    from bayes_needs.simulate.geography import generate_geography

    geography = generate_geography("england", random_seed=0).geography
    before = _rss_mb()
    with _RssSampler() as sampler:
        start = time.perf_counter()
        cells = collapse_parquet(path, geography, services=SERVICES,
                                 covariates=CHILD_COVARIATES)
        seconds = time.perf_counter() - start
    # The process high-water mark is set by generating the geography, so the collapse's own
    # memory is the resident size sampled while it runs, less the size before it started.
    print(json.dumps({"seconds": seconds, "peak_mb": sampler.peak_mb - before,
                      "cells": cells.n_cells, "children": cells.n_children}))


def _rss_mb() -> float:
    """Current resident set size (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return float("nan")
    return pages * resource.getpagesize() / 2**20


class _RssSampler:
    """Highest resident size seen by a background thread polling every 5 ms."""

    def __enter__(self):
        import threading

        self.peak_mb, self._stop = _rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


def _gradient_ms(cells, synthetic, *, row_level: bool = False, repeats: int = 20) -> float:
    from bayes_needs.data.person.design import PersonModelData
    from bayes_needs.models.person import PersonDemandModel

    return _model_gradient_ms(PersonDemandModel(
        PersonModelData.build(cells, synthetic.data.covariates), {"row_level": row_level}),
        repeats=repeats)


def _model_gradient_ms(person_model, *, repeats: int = 20) -> float:
    """Median time of one gradient of the person model's log density (PyTensor's C backend)."""
    model = person_model.built_model()
    dlogp = model.compile_dlogp()
    point = model.initial_point()
    dlogp(point)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        dlogp(point)
        seconds.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(seconds)


def bench_collapse(args: argparse.Namespace, workdir: Path) -> None:
    """Collapse scaling table (see the module docstring)."""
    from bayes_needs.data.person import collapse_parquet

    synthetic, _, full = _england(workdir, coverage=1.0)
    paths = [_thinned(full, n, seed=n) for n in SIZES] + [full]
    rows = []
    for path in paths:
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_pbra",
                                  "collapse-one", str(path)], check=True, capture_output=True,
                                 text=True, cwd=Path(__file__).resolve().parents[1])
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        cells = collapse_parquet(path, synthetic.data.geography, services=SERVICES,
                                 covariates=CHILD_COVARIATES)
        rows.append({"children": runs[0]["children"], "cells": runs[0]["cells"],
                     "collapse_s": statistics.median(r["seconds"] for r in runs),
                     "peak_mb": max(r["peak_mb"] for r in runs),
                     "gradient_ms": _gradient_ms(cells, synthetic)})
    print("children,cells,children_per_cell,collapse_seconds_median,collapse_extra_rss_mb,"
          "model_gradient_ms_median")
    for r in rows:
        print(f"{r['children']},{r['cells']},{r['children'] / r['cells']:.1f},"
              f"{r['collapse_s']:.2f},{r['peak_mb']:.0f},{r['gradient_ms']:.2f}")
    small, big = rows[0], rows[-1]
    print(f"children_ratio_largest_vs_smallest={big['children'] / small['children']:.2f}")
    print(f"cells_ratio_largest_vs_smallest={big['cells'] / small['cells']:.2f}")
    print(f"gradient_time_ratio_largest_vs_smallest="
          f"{big['gradient_ms'] / small['gradient_ms']:.2f}")
    print(f"collapse_seconds_12m={big['collapse_s']:.2f}")
    print(f"collapse_extra_rss_mb_12m={big['peak_mb']:.0f}")
    if args.dask:
        bench_dask(full, synthetic)


def bench_dask(path: Path, synthetic) -> None:
    """Collapse of the same file on a local 2-worker ``dask.distributed`` cluster."""
    import dask.dataframe as dd
    import distributed

    from bayes_needs.data.person import collapse_dask

    columns = ["lsoa_code", "exposure", "age_band", "sex", *CHILD_COVARIATES, *SERVICES]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        start = time.perf_counter()
        frame = dd.read_parquet(path, columns=columns, split_row_groups=True)
        cells = collapse_dask(frame, synthetic.data.geography, services=SERVICES,
                              covariates=CHILD_COVARIATES)
        print(f"dask_local_cluster_collapse_seconds={time.perf_counter() - start:.2f}")
        print(f"dask_local_cluster_cells={cells.n_cells}")


# ====================================================================== rows
def bench_rows(args: argparse.Namespace) -> None:
    """Collapsed vs row-level on about ``args.children`` children (module docstring)."""
    import arviz as az
    import pandas as pd

    from bayes_needs.core import dims
    from bayes_needs.data.person import collapse_frame
    from bayes_needs.data.person.design import PersonModelData
    from bayes_needs.models.person import HYPERPARAMETERS, PersonDemandModel
    from bayes_needs.simulate.area import generate_area
    from bayes_needs.simulate.person import generate_persons

    services = tuple(args.services)
    synthetic = generate_area("region", random_seed=args.data_seed, services=services)
    persons = generate_persons(synthetic, random_seed=args.data_seed + 1)
    chunks, total = [], 0
    for chunk in persons.chunks():  # whole LSOAs in order, until about the target size
        need = args.children - total
        if need <= 0:
            break
        if len(chunk) > need:
            codes = pd.unique(chunk["lsoa_code"].astype(str))
            cumulative = chunk.groupby("lsoa_code", observed=True, sort=False).size() \
                .loc[codes].cumsum()
            keep = set(cumulative.index[cumulative <= need])
            chunk = chunk[chunk["lsoa_code"].astype(str).isin(keep)]
        chunks.append(chunk)
        total += len(chunk)
    records = pd.concat(chunks, ignore_index=True)
    geo = synthetic.data.geography
    kwargs = {"services": services, "covariates": CHILD_COVARIATES}
    variants = {"collapsed": collapse_frame(records, geo, **kwargs),
                "row_level": collapse_frame(records, geo, keep_rows=True, **kwargs)}
    print(f"rows_children={len(records)}")
    print(f"rows_cells_collapsed={variants['collapsed'].n_cells}")
    results = {}
    for name, cells in variants.items():
        data = PersonModelData.build(cells, synthetic.data.covariates)
        model = PersonDemandModel(data, {"row_level": name == "row_level"})
        results[name] = {"gradient_ms": _gradient_ms(cells, synthetic,
                                                     row_level=name == "row_level")}
        start = time.perf_counter()
        idata = model.fit(random_seed=args.seed, draws=args.draws, tune=args.tune,
                          chains=args.chains, progressbar=False)
        results[name]["fit_s"] = time.perf_counter() - start
        results[name]["idata"] = idata
    print(f"rows_gradient_ms_collapsed={results['collapsed']['gradient_ms']:.3f}")
    print(f"rows_gradient_ms_row_level={results['row_level']['gradient_ms']:.3f}")
    print(f"rows_gradient_speed_ratio="
          f"{results['row_level']['gradient_ms'] / results['collapsed']['gradient_ms']:.1f}")
    print(f"rows_fit_seconds_collapsed={results['collapsed']['fit_s']:.1f}")
    print(f"rows_fit_seconds_row_level={results['row_level']['fit_s']:.1f}")
    print(f"rows_fit_speed_ratio="
          f"{results['row_level']['fit_s'] / results['collapsed']['fit_s']:.1f}")
    posts = {k: v["idata"].posterior for k, v in results.items()}
    names = [v for v in HYPERPARAMETERS if v in posts["collapsed"]]
    worst, lines = 0.0, []
    for var in names:
        means = {k: p[var].mean((dims.CHAIN, dims.DRAW)).to_numpy().ravel()
                 for k, p in posts.items()}
        mcse = {k: az.mcse(p[[var]])[var].to_numpy().ravel() for k, p in posts.items()}
        z = np.abs(means["collapsed"] - means["row_level"]) / np.sqrt(
            mcse["collapsed"] ** 2 + mcse["row_level"] ** 2)
        worst = max(worst, float(z.max()))
        lines.append(f"rows_max_abs_z[{var}]={z.max():.2f}")
    print("\n".join(lines))
    n_components = sum(int(np.prod([posts["collapsed"][v].sizes[d]
                                    for d in posts["collapsed"][v].dims
                                    if d not in (dims.CHAIN, dims.DRAW)])) for v in names)
    print(f"rows_max_abs_z_all={worst:.2f} (|mean difference| / combined MCSE over "
          f"{n_components} hyperparameter components)")
    for name, r in results.items():
        conv = json.loads(r["idata"].posterior.attrs["bayes_needs_convergence"])
        print(f"rows_rhat_max_{name}={conv['rhat_max']:.4f}")


# ====================================================================== fit
def bench_fit(args: argparse.Namespace, workdir: Path) -> None:
    """End-to-end England-scale fit (module docstring)."""
    from bayes_needs.allocation import allocate
    from bayes_needs.checks.gate import check_convergence
    from bayes_needs.core import convergence, dims
    from bayes_needs.core import idata as idata_io
    from bayes_needs.core.intervals import credible_interval
    from bayes_needs.data.person import collapse_parquet
    from bayes_needs.data.person.design import PersonModelData
    from bayes_needs.models.person import PersonDemandModel
    from bayes_needs.need.person import expected_need

    print(f"fit_load_average_start={os.getloadavg()[0]:.1f}")
    synthetic, persons, path = _england(workdir, coverage=0.8, data_seed=args.data_seed)
    start = pipeline_start = time.perf_counter()
    cells = collapse_parquet(path, synthetic.data.geography, services=SERVICES,
                             covariates=CHILD_COVARIATES)
    print(f"fit_collapse_seconds={time.perf_counter() - start:.1f}")
    data = PersonModelData.build(cells, synthetic.data.covariates, persons.population)
    print(f"fit_records={cells.n_children} fit_cells={cells.n_cells} "
          f"fit_population={persons.population['population'].sum()}")
    start = time.perf_counter()
    topup = data.topup
    print(f"fit_topup_seconds={time.perf_counter() - start:.1f} "
          f"fit_topup_child_years={topup.child_years.sum():.0f}")
    model = PersonDemandModel(data)
    start = time.perf_counter()
    # The sampler defaults to the package's (FittableModel.fit) unless --sampler names one.
    sampler = {} if args.sampler is None else {"sampler": args.sampler}
    idata = model.fit(random_seed=args.seed, draws=args.draws, tune=args.tune,
                      chains=args.chains, progressbar=False, **sampler)
    print(f"fit_nuts_seconds={time.perf_counter() - start:.1f} "
          f"(chains={args.chains} draws={args.draws} tune={args.tune} "
          f"sampler={args.sampler or 'default'})")
    stats = idata_io.sample_stats(idata)
    steps = next((stats[k] for k in ("n_steps", "tree_size") if stats is not None and k in stats),
                 None)  # PyMC and nutpie: n_steps; numpyro: tree_size
    if steps is not None:
        print(f"fit_steps_per_draw={float(steps.mean()):.1f}")
    conv = json.loads(idata.posterior.attrs["bayes_needs_convergence"])
    print(f"fit_rhat_max_hyperparameters={conv['rhat_max']:.4f}")
    print(f"fit_ess_bulk_min_hyperparameters={conv['ess_bulk_min']:.0f}")
    print(f"fit_ess_tail_min_hyperparameters={conv['ess_tail_min']:.0f}")
    print(f"fit_divergences={conv['divergences']}")
    failures = check_convergence(conv)
    print(f"fit_gate={'passed' if not failures else 'failed: ' + '; '.join(failures)}")
    everything = convergence.convergence_summary(idata)
    print(f"fit_rhat_max_all_parameters={everything['rhat_max']:.4f}")
    print(f"fit_ess_bulk_min_all_parameters={everything['ess_bulk_min']:.0f}")
    per_variable = everything["per_variable"]
    for name in sorted(per_variable["rhat_max"], key=per_variable["rhat_max"].get)[::-1][:3]:
        print(f"fit_rhat_max[{name}]={per_variable['rhat_max'][name]:.4f} "
              f"fit_ess_bulk_min[{name}]={per_variable['ess_bulk_min'][name]:.0f}")
    start = time.perf_counter()
    need = expected_need(model, idata, random_seed=args.seed)["need"]
    allocation = allocate(need, synthetic.truth["unit_cost"], interval_prob=0.9,
                          interval_kind="eti")
    print(f"fit_need_and_allocation_seconds={time.perf_counter() - start:.1f}")
    share = allocation.draws["share"]
    lower, upper = credible_interval(share, interval_prob=0.9, interval_kind="eti")
    truth = synthetic.truth["needs_share"].sel({dims.LA: share[dims.LA].values}).to_numpy()
    inside = (lower.to_numpy() <= truth) & (truth <= upper.to_numpy())
    mean = share.mean((dims.CHAIN, dims.DRAW)).to_numpy()
    print(f"fit_true_share_coverage_90={inside.mean():.3f} ({inside.sum()}/{len(inside)} LAs)")
    print(f"fit_share_rmse={np.sqrt(np.mean((mean - truth) ** 2)):.6f}")
    print(f"fit_share_mean_relative_interval_width="
          f"{np.mean((upper.to_numpy() - lower.to_numpy()) / mean):.4f}")
    print(f"fit_peak_rss_mb={_peak_mb():.0f}")
    print(f"fit_end_to_end_seconds={time.perf_counter() - pipeline_start:.1f} (collapse to "
          f"allocation; synthetic data generation excluded)")
    print(f"fit_gradient_ms={_model_gradient_ms(model):.2f}")
    print(f"fit_load_average_end={os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    """Parse the part to run and its options."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["collapse", "rows", "fit", "collapse-one"])
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep generated Parquet files here (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=3, help="collapse repeats per size")
    parser.add_argument("--dask", action="store_true", help="also time the Dask collapse")
    parser.add_argument("--children", type=int, default=200_000, help="size for 'rows'")
    parser.add_argument("--services", nargs="+", default=["cin", "cla"],
                        help="services for 'rows'")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--sampler", default=None,
                        help="pymc, nutpie or numpyro (default: the package's default)")
    parser.add_argument("--seed", type=int, default=20240331)
    parser.add_argument("--data-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.part == "collapse-one":
        collapse_one(args.path)
        return 0
    if args.part == "rows":
        bench_rows(args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        (bench_collapse if args.part == "collapse" else bench_fit)(args, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
