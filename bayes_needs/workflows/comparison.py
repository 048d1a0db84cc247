"""Area-based versus person-based approach on one synthetic truth (``bayes-needs compare``).

Both approaches see the same synthetic England
(:func:`bayes_needs.simulate.area.generate_area`): the area model its published counts (mixed
LSOA/MSOA/LA levels, some LAs unobserved), the person model child records consistent with the
same truth covering about 80% of children (:func:`bayes_needs.simulate.person.generate_persons`)
with ONS populations for the top-up. Each is

1. fitted to everything and turned into needs shares, compared with the true shares
   (error, interval coverage and width);
2. refitted K times with the data of one fold of LAs held out (LA-grouped cross-validation)
   to score the log predictive density of those LAs' realised annual counts
   (:func:`bayes_needs.checks.compare.la_total_log_density`), giving ELPD with standard errors.

The two approaches' LA-level predictions are then stacked with weights that maximise the
cross-validated log score; the stacked row's ELPD uses weights fitted without the fold being
scored (leave-one-fold-out), so it is not optimistic. :func:`write_comparison` writes the
files as one set (:func:`bayes_needs.core.outputs.output_set`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from bayes_needs.checks.compare import (
    area_la_moments,
    elpd,
    la_folds,
    la_total_log_density,
    mixture_log_density,
    share_metrics,
    stack_draws,
    stacking_weights,
)
from bayes_needs.core import defaults, dims
from bayes_needs.core.intervals import check_interval, describe_interval
from bayes_needs.core.outputs import output_set, with_sidecars, write_csv, write_text
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import as_level
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.need import expected_need
from bayes_needs.need.person import la_total_moments
from bayes_needs.report.disclosure import DEFAULT_THRESHOLD, write_safe_csv
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.geography import Scale
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.person_pipeline import RECORD_COVERAGE, synthetic_person_data

COMPARISON_CSV = "comparison.csv"
POINTWISE_CSV = "cv_pointwise.csv"
SUMMARY_TXT = "comparison.txt"
#: The files of a comparison; each CSV table comes with its metadata sidecar.
OUTPUT_FILES = with_sidecars((COMPARISON_CSV, POINTWISE_CSV, SUMMARY_TXT))
#: The kind of output set these files form (:func:`bayes_needs.core.outputs.output_set`).
COMPARISON_SET = "comparison"
APPROACHES = ("area", "person")


@dataclass(frozen=True)
class ComparisonSettings:
    """Settings of a comparison run (all seeds explicit).

    The share intervals are equal-tailed (:data:`bayes_needs.core.defaults.INTERVAL_KIND`);
    ``interval_prob`` is checked when the settings are made, before anything is fitted.

    Raises
    ------
    ConfigError
        If ``interval_prob`` is not strictly between 0 and 1.
    """

    scale: Scale = "tiny"
    data_seed: int = 0
    random_seed: int = defaults.RANDOM_SEED
    folds: int = 4
    draws: int = 500
    tune: int = 500
    chains: int = 2
    sampler: str = defaults.SAMPLER
    target_accept: float = defaults.TARGET_ACCEPT
    services: tuple[str, ...] | None = None
    coverage: float = RECORD_COVERAGE
    interval_prob: float = defaults.INTERVAL_PROB
    progressbar: bool = False

    def __post_init__(self) -> None:
        """Check the interval probability."""
        check_interval(self.interval_prob, defaults.INTERVAL_KIND)


@dataclass
class ComparisonResult:
    """What a comparison found.

    Attributes
    ----------
    table
        One row per approach (``comparison.csv``).
    pointwise
        Held-out log densities per LA x service (``cv_pointwise.csv``).
    weights
        Stacking weights by approach.
    settings
        The settings of the run.
    seconds
        Wall time.
    """

    table: pd.DataFrame
    pointwise: pd.DataFrame
    weights: dict[str, float]
    settings: ComparisonSettings
    seconds: float


def hold_out_area(data: AreaData, la_codes: Sequence[str]) -> AreaData:
    """Drop every observation inside the given LAs from area data.

    Parameters
    ----------
    data
        The area data.
    la_codes
        The LAs held out.

    Returns
    -------
    AreaData
        The data without those LAs' observations (geography and covariates unchanged).
    """
    geo, obs = data.geography, data.observations
    la_of_row = np.empty(len(obs), dtype=np.int64)
    for level in map(as_level, dims.LEVELS):
        rows = (obs["level"] == level).to_numpy()
        pos = geo.position(level, obs.loc[rows, "area_code"].to_numpy())
        la_of_row[rows] = geo.parent_index(level, dims.LA)[pos]
    keep = ~np.isin(la_of_row, geo.position(dims.LA, list(la_codes)))
    return AreaData(geo, data.covariates, data.exposure, obs[keep].reset_index(drop=True),
                    data.services, data.year, f"{data.source} without {len(la_codes)} LA(s)")


def run_comparison(settings: ComparisonSettings,
                   log: Callable[[str], None] | None = None) -> ComparisonResult:
    """Fit both approaches, cross-validate over LA folds, stack and score (module docstring).

    Parameters
    ----------
    settings
        The comparison's settings.
    log
        Receives progress lines (default: none are reported).

    Returns
    -------
    ComparisonResult
        The tables and the stacking weights.
    """
    log = log or _silent
    s = settings
    start = time.perf_counter()
    services = s.services or dims.SERVICES
    synthetic = generate_area(s.scale, random_seed=s.data_seed, services=services)
    truth, geo = synthetic.truth, synthetic.data.geography
    folds = la_folds(list(geo.la_codes), s.folds, random_seed=s.random_seed)  # validate early
    person_data, _ = synthetic_person_data(synthetic, data_seed=s.data_seed,
                                           coverage=s.coverage)
    log(f"compare: synthetic {s.scale} (seed {s.data_seed}): {geo.n_la} LAs, "
        f"{geo.n_lsoa} LSOAs; {person_data.cells.n_children:,} child records in "
        f"{person_data.cells.n_cells:,} cells")
    def sample(model: AreaDemandModel | PersonDemandModel, seed: int) -> az.InferenceData:
        return model.fit(random_seed=seed, draws=s.draws, tune=s.tune, chains=s.chains,
                         sampler=s.sampler, target_accept=s.target_accept,
                         progressbar=s.progressbar)

    def build(approach: str, holdout: Sequence[str] = ()
              ) -> AreaDemandModel | PersonDemandModel:
        if approach == "area":
            data = hold_out_area(synthetic.data, holdout) if holdout else synthetic.data
            return AreaDemandModel(data)
        return PersonDemandModel(person_data, holdout_las=holdout)

    needs, fits = {}, {}
    for k, approach in enumerate(APPROACHES):
        log(f"  fitting the {approach} model to all data ...")
        t0 = time.perf_counter()
        model = build(approach)
        idata = sample(model, s.random_seed + k)
        fits[approach] = {"seconds": time.perf_counter() - t0,
                          **pipeline.convergence(idata)}
        needs[approach] = expected_need(model, idata, random_seed=s.random_seed)["need"]

    observed = truth["la_count"].transpose(dims.LA, dims.SERVICE).to_numpy().astype(float)
    lpd = {a: np.full(observed.shape, np.nan) for a in APPROACHES}
    fold_of = np.empty(geo.n_la, dtype=np.int64)
    cv_rhat = dict.fromkeys(APPROACHES, 0.0)
    cv_seconds = dict.fromkeys(APPROACHES, 0.0)
    for f, fold in enumerate(folds):
        pos = geo.position(dims.LA, fold)
        fold_of[pos] = f
        for k, approach in enumerate(APPROACHES):
            log(f"  fold {f + 1}/{len(folds)}: {approach} model without {len(fold)} LA(s)")
            t0 = time.perf_counter()
            model = build(approach, fold)
            idata = sample(model, s.random_seed + 100 * (f + 1) + k)
            cv_seconds[approach] += time.perf_counter() - t0
            cv_rhat[approach] = max(cv_rhat[approach],
                                    pipeline.convergence(idata)["rhat_max"])
            moments = area_la_moments(model, idata) if isinstance(model, AreaDemandModel) \
                else la_total_moments(model, idata)
            lpd[approach][pos] = la_total_log_density(
                _moment(moments, "s1")[:, pos], _moment(moments, "s2")[:, pos],
                moments["shape"], _moment(moments, "sigma"), observed[pos])

    matrix = np.stack([lpd[a].ravel() for a in APPROACHES], axis=1)
    weights = stacking_weights(matrix)
    point_fold = np.repeat(fold_of, observed.shape[1])
    stacked = np.empty(len(matrix))
    for f in range(len(folds)):
        inside = point_fold == f
        stacked[inside] = mixture_log_density(matrix[inside],
                                              stacking_weights(matrix[~inside]))
    lpd["stacked"] = stacked.reshape(observed.shape)
    needs["stacked"] = stack_draws([needs[a] for a in APPROACHES], weights,
                                   random_seed=s.random_seed)

    costs = truth["unit_cost"]
    true_share = truth["needs_share"]
    rows = []
    best = max(APPROACHES, key=lambda a: elpd(lpd[a])[0])
    for approach in (*APPROACHES, "stacked"):
        value, se = elpd(lpd[approach])
        diff = lpd[approach].ravel() - lpd[best].ravel()
        diff_value, diff_se = elpd(diff)
        fit = fits.get(approach, {})
        rows.append({
            "approach": approach, "elpd_heldout_la": value, "elpd_se": se,
            "elpd_diff_vs_best": diff_value, "elpd_diff_se": diff_se if approach != best
            else 0.0, "n_heldout_points": int(np.isfinite(lpd[approach]).sum()),
            "stacking_weight": float(weights[APPROACHES.index(approach)])
            if approach in APPROACHES else 1.0,
            **share_metrics(needs[approach], costs, true_share,
                            interval_prob=s.interval_prob,
                            interval_kind=defaults.INTERVAL_KIND),
            "interval_prob": s.interval_prob, "interval_kind": defaults.INTERVAL_KIND,
            "rhat_max": fit.get("rhat_max", np.nan),
            "divergences": fit.get("divergences", np.nan),
            "cv_rhat_max": cv_rhat.get(approach, np.nan),
            "fit_seconds": fit.get("seconds", np.nan),
            "cv_seconds": cv_seconds.get(approach, np.nan)})
    table = pd.DataFrame(rows)
    pointwise = pd.DataFrame({
        "la_code": np.repeat(geo.la_codes.astype(str), observed.shape[1]),
        "service": np.tile(np.asarray(truth[dims.SERVICE].values, dtype=str),
                           observed.shape[0]),
        "fold": point_fold + 1, "observed": observed.ravel(),
        **{f"lpd_{a}": lpd[a].ravel() for a in (*APPROACHES, "stacked")}})
    return ComparisonResult(table, pointwise, dict(zip(APPROACHES, map(float, weights),
                                                       strict=True)),
                            settings, time.perf_counter() - start)


def summary_text(result: ComparisonResult) -> str:
    """Write the plain-language verdict with the numbers behind it.

    Parameters
    ----------
    result
        Output of :func:`run_comparison`.

    Returns
    -------
    str
        The text of ``comparison.txt``.
    """
    t = result.table.set_index("approach")
    elpd_of = {str(k): float(v) for k, v in t["elpd_heldout_la"].items()}
    weight_of = {str(k): float(v) for k, v in t["stacking_weight"].items()}
    better = "person" if elpd_of["person"] > elpd_of["area"] else "area"
    other = "area" if better == "person" else "person"
    diff = elpd_of[better] - elpd_of[other]
    se = float(t["elpd_diff_se"].loc[other])
    n_points = int(t["n_heldout_points"].loc["person"])
    strength = "clearly" if diff > 2 * se else "but within two standard errors"
    s = result.settings
    lines = [
        "bayes_needs approach comparison",
        "===============================",
        f"synthetic {s.scale} England, data seed {s.data_seed}, sampling seed "
        f"{s.random_seed}; {s.chains} chains x {s.draws} draws after {s.tune} tuning steps",
        f"LA-grouped cross-validation: {s.folds} folds; held-out target: each LA's realised "
        f"annual count per service",
        "",
        f"Held-out LAs are predicted better by the {better} approach ({strength}): ELPD "
        f"{elpd_of[better]:.1f} vs {elpd_of[other]:.1f}, "
        f"difference {diff:.1f} (SE {se:.1f}) over {n_points} LA x service "
        f"points.",
        f"Stacking weights: area {weight_of['area']:.2f}, person "
        f"{weight_of['person']:.2f}; stacked ELPD (leave-one-fold-out weights) "
        f"{elpd_of['stacked']:.1f}.",
        "",
        f"Needs shares against the truth "
        f"({describe_interval(s.interval_prob, defaults.INTERVAL_KIND)} intervals):",
    ]
    for name, row in t.iterrows():
        lines.append(f"  {name:<8} RMSE {row['share_rmse']:.5f}  MAE {row['share_mae']:.5f}  "
                     f"coverage {row['share_coverage']:.0%}  mean width "
                     f"{row['interval_width_mean']:.5f} "
                     f"({row['relative_interval_width_mean']:.1%} of the share)")
    lines += ["", f"total wall time {result.seconds:.0f} s"]
    return "\n".join(lines) + "\n"


def write_comparison(result: ComparisonResult, out_dir: Path, *,
                     threshold: int = DEFAULT_THRESHOLD) -> list[Path]:
    """Write :data:`OUTPUT_FILES` (the tables, their sidecars, the summary) as one set.

    Either every file is replaced or, if anything fails or the process is interrupted, none
    is (:func:`bayes_needs.core.outputs.output_set`).

    Parameters
    ----------
    result
        Output of :func:`run_comparison`.
    out_dir
        The directory (created if missing).
    threshold
        Counts below it are suppressed in ``cv_pointwise.csv``.

    Returns
    -------
    list of pathlib.Path
        The files written, in :data:`OUTPUT_FILES` order.
    """
    settings = ", ".join(f"{k}={v}" for k, v in asdict(result.settings).items())
    with output_set(out_dir, COMPARISON_SET) as outputs:
        staging = outputs.staging
        write_csv(staging / COMPARISON_CSV, result.table,
                  comment=f"approach comparison on synthetic data; {settings}")
        write_safe_csv(staging / POINTWISE_CSV, result.pointwise, count_columns=["observed"],
                       threshold=threshold,
                       comment="log predictive density of each held-out LA's count")
        write_text(staging / SUMMARY_TXT, summary_text(result))
    return [Path(out_dir) / name for name in OUTPUT_FILES]


def _moment(moments: dict[str, np.ndarray | None], name: str) -> np.ndarray:
    """One of the LA-total moments, which every model provides."""
    value = moments[name]
    if value is None:
        raise ValueError(f"the model gave no LA-total moment {name!r}")
    return value


def _silent(_message: str) -> None:
    """Report nothing (the default progress log)."""
