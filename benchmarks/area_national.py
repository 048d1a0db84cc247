"""National area-model benchmark: naive baseline vs the bayes_needs area model, side by side.

Both fit the same synthetic England data (one service, counts observed for every LSOA,
generated with LA, MSOA and LSOA variation), 2 chains x ``--draws`` after ``--tune``:

* ``naive``: what bambi or a first PyMC attempt produces,
  ``y ~ covariates + (1|la) + (1|msoa) + offset(log(pop))``, negative binomial, non-centred
  normal LA and MSOA effects, sampled with nutpie;
* ``bayes_needs``: :class:`~bayes_needs.models.area.AreaDemandModel` (MSOA effects
  integrated out analytically, LA effects adaptively partially centred, compiled likelihood
  kernels), fitted as the package fits it: with ``--sampler`` (default: the package's
  default sampler, nutpie, with the settings of :mod:`bayes_needs.models.sampling`);
  ``pymc`` for PyMC's own NUTS.

Each variant runs in its own process (so peak memory is its own). Metrics: wall time of
sampling (including compilation, so a first run in a fresh environment, before the compile
caches are filled, is slower), minimum bulk ESS over the hyperparameters and the LA needs
shares, ESS/s and peak resident memory. The last line is ``ess_per_s_ratio=<float>``.

Run: ``python -m benchmarks area_national [--draws 1000 --tune 1000 --seed 1 --sampler nutpie]``
(draws, tuning steps and sampler default to the package's, ``bayes_needs.core.defaults``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from bayes_needs.core import defaults
from bayes_needs.models.sampling import SAMPLERS

SERVICE = "cla"


def _data(seed: int):
    from bayes_needs.simulate.area import generate_area

    return generate_area("england", random_seed=seed, services=[SERVICE],
                         observation_mix={"lsoa": 1.0, "msoa": 0.0, "la": 0.0, "none": 0.0})


def _min_ess(posterior_vars, shares) -> float:
    import arviz as az
    import xarray as xr

    ds = xr.Dataset({**posterior_vars, "share": shares})
    ess = az.ess(ds, method="bulk")
    return float(min(float(v.min()) for v in ess.data_vars.values()))


def _shares(need):
    return need / need.sum("la")


def run_naive(seed: int, draws: int, tune: int) -> dict:
    """Fit the naive formulation with nutpie; return metrics."""
    import pymc as pm
    import pytensor.tensor as pt
    import xarray as xr

    from bayes_needs.core import dims
    from bayes_needs.data.covariates import standardise

    synthetic = _data(seed)
    data = synthetic.data
    geo = data.geography
    z = standardise(data.covariates)[0].to_numpy()
    pos, y = data.observed(SERVICE, dims.LSOA)
    assert len(pos) == geo.n_lsoa
    log_pop = np.log(data.exposure)
    coords = {dims.LA: geo.la_codes, dims.MSOA: geo.msoa_codes,
              dims.COVARIATE: list(data.covariate_names)}
    with pm.Model(coords=coords):
        intercept = pm.Normal("intercept", -4.0, 2.5)
        beta = pm.Normal("beta", 0.0, 1.0, dims=dims.COVARIATE)
        sigma_la = pm.HalfNormal("sigma_la", 0.5)
        sigma_msoa = pm.HalfNormal("sigma_msoa", 0.5)
        la_raw = pm.Normal("la_raw", 0.0, 1.0, dims=dims.LA)
        msoa_raw = pm.Normal("msoa_raw", 0.0, 1.0, dims=dims.MSOA)
        alpha = pm.HalfNormal("alpha", 10.0)
        eta = (intercept + pt.dot(z, beta) + (sigma_la * la_raw)[geo.lsoa_to_la]
               + (sigma_msoa * msoa_raw)[geo.lsoa_to_msoa])
        pm.NegativeBinomial("y", mu=pt.exp(log_pop + eta), alpha=alpha, observed=y[pos])
        start = time.perf_counter()
        idata = pm.sample(draws=draws, tune=tune, chains=2, cores=2, random_seed=seed,
                          nuts_sampler="nutpie", progressbar=False)
        seconds = time.perf_counter() - start
    post = idata.posterior
    # Needs per LA per draw: LA effects marginalised, MSOA effects kept, as in bayes_needs.
    fixed = np.exp(post["intercept"].values[..., None]
                   + np.einsum("lk,cdk->cdl", z, post["beta"].values)) * data.exposure
    msoa_mult = np.exp(post["sigma_msoa"].values[..., None] * post["msoa_raw"].values)
    per_lsoa = fixed * msoa_mult[..., geo.lsoa_to_msoa]
    need = geo.aggregate(per_lsoa, dims.LSOA, dims.LA) * np.exp(
        post["sigma_la"].values[..., None] ** 2 / 2)
    need = xr.DataArray(need, dims=(dims.CHAIN, dims.DRAW, dims.LA))
    hyper = {k: post[k] for k in ("intercept", "beta", "sigma_la", "sigma_msoa", "alpha")}
    return _metrics("naive (non-centred NB, nutpie)", seconds, hyper, _shares(need),
                    synthetic.truth)


def run_bayes_needs(seed: int, draws: int, tune: int, sampler: str = defaults.SAMPLER) -> dict:
    """Fit the bayes_needs area model; return metrics."""
    from bayes_needs.core import dims
    from bayes_needs.models.area import HYPERPARAMETERS, AreaDemandModel
    from bayes_needs.need.area import expected_need

    synthetic = _data(seed)
    model = AreaDemandModel(synthetic.data)
    start = time.perf_counter()
    idata = model.fit(random_seed=seed, draws=draws, tune=tune, chains=2, sampler=sampler,
                      progressbar=False)
    seconds = time.perf_counter() - start
    need = expected_need(model, idata, random_seed=seed)["need"].sel({dims.SERVICE: SERVICE})
    post = idata.posterior
    hyper = {k: post[k] for k in HYPERPARAMETERS if k in post}
    return _metrics(f"bayes_needs area model ({sampler})", seconds, hyper, _shares(need),
                    synthetic.truth)


def _metrics(label, seconds, hyper, shares, truth) -> dict:
    from bayes_needs.core.intervals import credible_interval

    min_ess = _min_ess(hyper, shares)
    true_share = truth["need"].sel(service=SERVICE)
    true_share = (true_share / true_share.sum()).values
    lower, upper = credible_interval(shares, interval_prob=0.9, interval_kind="eti")
    coverage = float(np.mean((lower.values <= true_share) & (true_share <= upper.values)))
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return {"label": label, "seconds": seconds, "min_bulk_ess": min_ess,
            "ess_per_s": min_ess / seconds, "peak_mb": peak,
            "share_coverage_90": coverage,
            "max_abs_share_error_pp": float(np.max(np.abs(
                shares.mean(("chain", "draw")).values - true_share)) * 100)}


def _child(args) -> None:
    if args.variant == "naive":
        result = run_naive(args.seed, args.draws, args.tune)
    else:
        result = run_bayes_needs(args.seed, args.draws, args.tune, sampler=args.sampler)
    print("RESULT " + json.dumps(result))


def main(argv=None) -> int:
    """Run both variants in subprocesses and print the side-by-side table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks area_national")
    parser.add_argument("--draws", type=int, default=defaults.DRAWS)
    parser.add_argument("--tune", type=int, default=defaults.TUNE)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sampler", choices=list(SAMPLERS), default=defaults.SAMPLER,
                        help="sampler of the bayes_needs model (the baseline uses nutpie)")
    parser.add_argument("--variant", choices=["naive", "bayes_needs"], default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        _child(args)
        return 0
    results = []
    for variant in ("naive", "bayes_needs"):
        cmd = [sys.executable, "-m", "benchmarks.area_national", "--variant", variant,
               "--draws", str(args.draws), "--tune", str(args.tune), "--seed", str(args.seed),
               "--sampler", args.sampler]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line.removeprefix("RESULT ")))
    print(f"{'variant':<36}{'wall s':>9}{'min ESS':>9}{'ESS/s':>9}{'peak MB':>9}"
          f"{'cover90':>9}{'max err pp':>11}")
    for r in results:
        print(f"{r['label']:<36}{r['seconds']:>9.1f}{r['min_bulk_ess']:>9.0f}"
              f"{r['ess_per_s']:>9.2f}{r['peak_mb']:>9.0f}{r['share_coverage_90']:>9.2f}"
              f"{r['max_abs_share_error_pp']:>11.3f}")
    print(f"ess_per_s_ratio={results[1]['ess_per_s'] / results[0]['ess_per_s']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
