"""Tests of the rolling-origin backtest (:mod:`bayes_needs.workflows.backtest`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from csv_meta import description

from bayes_needs.checks.forecast_scores import BACKTEST_COLUMNS
from bayes_needs.config.run import RunConfig
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.outputs import SET_FILES
from bayes_needs.data.panel import PanelData
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows import backtest
from bayes_needs.workflows.backtest_models import LABELS, area_model_options, model_seeds

FIRST, LAST = 2015, 2021
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Short mocked fits: the mock sampler returns prior draws, so only shapes matter.
SAMPLING = {"draws": 30, "tune": 5, "chains": 2, "progressbar": False}


def tiny_panel(*, cla_from: int = FIRST, seed: int = 5) -> PanelData:
    """Tiny synthetic England (8 LAs) with Poisson counts of cin and cla over 2015-2021.

    Each LA has a fixed effect per service and counts grow 3% a year; E1's first cin count
    is missing; cla counts start in ``cla_from``.
    """
    area = generate_area("tiny", random_seed=seed, services=("cin", "cla")).data
    geo = area.geography
    rng = np.random.default_rng(seed)
    years = np.arange(FIRST, LAST + 1)
    la_exposure = geo.aggregate(area.exposure, dims.LSOA, dims.LA)
    exposure = la_exposure[:, None] * (1.0 + 0.02 * (years - FIRST))[None, :]
    la = np.repeat(geo.la_codes, len(years))
    year = np.tile(years, geo.n_la)
    frames = []
    for service, rate in (("cin", 0.03), ("cla", 0.007)):
        effect = rng.normal(0.0, 0.3, geo.n_la)
        mean = rate * exposure * np.exp(effect[:, None] + 0.03 * (years - FIRST))
        frames.append(pd.DataFrame({"service": service, "la_code": la, "year": year,
                                    "count": rng.poisson(mean).astype(float).ravel()}))
    counts = pd.concat(frames, ignore_index=True)
    counts.loc[0, "count"] = np.nan
    counts = counts[(counts["service"] != "cla") | (counts["year"] >= cla_from)]
    lsoa = area.covariates.reset_index(drop=True).assign(lsoa_code=geo.lsoa_codes,
                                                         weight=area.exposure)
    exposure_frame = pd.DataFrame({"la_code": la, "year": year, "exposure": exposure.ravel()})
    return PanelData.from_frames(geo, lsoa, exposure_frame, counts,
                                 covariates=list(area.covariate_names), weight="weight",
                                 source="tiny test panel")


@pytest.fixture(scope="module")
def panel() -> PanelData:
    return tiny_panel()


@pytest.fixture(scope="module")
def config() -> RunConfig:
    return RunConfig().with_overrides(sampling=SAMPLING)


# ---------------------------------------------------------------------- settings
def test_check_origins_sorts_and_drops_repeats(panel):
    assert backtest.check_origins(panel, [2020, 2017, 2017, 2019]) == (2017, 2019, 2020)


def test_check_origins_names_every_bad_origin_and_the_valid_range(panel):
    with pytest.raises(ConfigError) as excinfo:
        backtest.check_origins(panel, [2016, 2018, 2021, 2030])
    message = str(excinfo.value)
    assert "origin(s) 2016, 2021, 2030" in message
    assert "2017-2020" in message and "2018," not in message


def test_check_origins_ends_at_the_last_count_year_not_the_last_exposure_year(panel):
    longer = panel.extend_exposure(LAST + 2)  # exposure-only years have nothing to score
    assert backtest.check_origins(longer, [2020]) == (2020,)
    with pytest.raises(ConfigError, match="2017-2020"):
        backtest.check_origins(longer, [2021])


def test_check_origins_refuses_a_panel_too_short_for_any_origin(panel):
    short = panel.up_to(FIRST + 2)
    with pytest.raises(ConfigError, match="no origin is possible"):
        backtest.check_origins(short, [FIRST + 2])
    with pytest.raises(ConfigError, match="whole years"):
        backtest.check_origins(panel, [])
    with pytest.raises(ConfigError, match="whole years"):
        backtest.check_origins(panel, [2019.0])


def test_check_models_orders_and_refuses_unknown_or_repeated_names():
    assert backtest.check_models(["single_year", "persistence"]) == ("persistence",
                                                                     "single_year")
    for bad in ([], ["arima"], ["panel", "panel"]):
        with pytest.raises(ConfigError, match="persistence"):
            backtest.check_models(bad)


@pytest.mark.parametrize("settings, match", [
    ({"horizon": 0}, "horizon"), ({"n_draws": 1}, "n_draws"), ({"random_seed": -1},
                                                                "random_seed"),
    ({"models": ["arima"]}, "models"), ({"executor": "local"}, "executor")])
def test_run_backtest_refuses_bad_settings_before_any_work(panel, config, settings, match):
    kwargs = {"n_draws": 10, "random_seed": 1, "models": ["persistence"], **settings}
    with pytest.raises(ConfigError, match=match):
        backtest.run_backtest(config, panel, [2019], **kwargs)


def test_model_seeds_are_stable_and_independent():
    assert model_seeds(1, 2019, "panel") == model_seeds(1, 2019, "panel")
    seeds = {model_seeds(s, t, m) for s in (1, 2) for t in (2019, 2020)
             for m in backtest.MODELS}
    assert len(seeds) == 2 * 2 * len(backtest.MODELS)


def test_area_model_options_keep_what_applies_and_default_msoa_effects_off():
    run = RunConfig(model={"family": "poisson", "la_effects": True, "contextual": False})
    assert area_model_options(run) == {"msoa_effects": False, "family": "poisson",
                                       "la_effects": True}
    assert area_model_options(RunConfig(model={"msoa_effects": True}))["msoa_effects"]
    # The panel's indicators become the area model's covariates: both see the same.
    assert area_model_options(RunConfig(model={"indicators": ["idaci"]})) == {
        "msoa_effects": False, "covariates": ["idaci"]}


# ---------------------------------------------------------------------- persistence
def test_persistence_cases_match_the_later_counts(panel, config):
    result = backtest.run_backtest(config, panel, [2019, 2020], horizon=2,
                                   models=["persistence"], n_draws=200, random_seed=7)
    cases = result.cases
    assert list(cases.columns[:6]) == list(backtest.LABELS)
    # 2020 + 2 is after the last count year: no horizon-2 forecast from 2020.
    keys = set(zip(cases["origin"], cases["horizon"], strict=True))
    assert keys == {(2019, 1), (2019, 2), (2020, 1)}
    assert (cases["year"] == cases["origin"] + cases["horizon"]).all()
    for row in cases.sample(10, random_state=0).itertuples():
        assert row.observed == panel.counts[row.service].loc[row.la_code, row.year]
    assert len(cases) == 3 * 2 * len(panel.la_codes)  # every count observed after 2015
    assert list(result.summary.columns[:5]) == ["model", "service", "horizon", "cases", "n"]
    assert set(BACKTEST_COLUMNS) <= set(result.summary.columns)
    assert result.summary["n"].tolist() == [16, 8, 16, 8]
    # Counts of a steady Poisson panel: the 90% intervals cover most counts.
    assert result.summary["coverage_90"].min() >= 0.6
    assert result.timings[["origin", "model"]].values.tolist() == [[2019, "persistence"],
                                                                   [2020, "persistence"]]


def test_a_job_is_a_pure_function_of_its_arguments(panel, config):
    def job():
        return backtest.run_case(config, panel, 2018, "persistence", horizon=2, n_draws=50,
                                 random_seed=3).cases

    pd.testing.assert_frame_equal(job(), job())
    other = backtest.run_case(config, panel, 2018, "persistence", horizon=2, n_draws=50,
                              random_seed=4).cases
    assert not other["crps"].equals(job()["crps"])


def test_persistence_notes_services_without_enough_history(config):
    late = tiny_panel(cla_from=2018)
    result = backtest.run_backtest(config, late, [2018], horizon=2, models=["persistence"],
                                   n_draws=50, random_seed=1)
    assert set(result.cases["service"]) == {"cin"}
    assert any("no cla counts 1 year(s) apart up to 2018" in n for n in result.notes)


# ---------------------------------------------------------------------- end to end
def test_every_model_end_to_end(panel, config, mocked_sampler, tmp_path):
    seen = []
    result = backtest.run_backtest(
        config, panel, [2019, 2020], horizon=2, models=["single_year", "persistence", "panel"],
        n_draws=60, random_seed=11,
        progress=lambda done, total, r: seen.append((done, total, r.origin, r.model)))
    assert sorted(s[2:] for s in seen) == [(t, m) for t in (2019, 2020)
                                           for m in ("panel", "persistence", "single_year")]
    assert [s[:2] for s in seen] == [(k, 6) for k in range(1, 7)]
    # The fitted models forecast every LA, even the one without a first count.
    for model in ("panel", "single_year"):
        own = result.cases[result.cases["model"] == model]
        assert len(own) == 3 * 2 * len(panel.la_codes)
        assert set(zip(own["origin"], own["horizon"], strict=True)) == {
            (2019, 1), (2019, 2), (2020, 1)}
    assert result.summary["model"].unique().tolist() == list(backtest.MODELS)
    timings = result.timings.set_index(["origin", "model"])
    assert timings.loc[(2019, "single_year"), "fit_seconds"] > 0
    assert timings.loc[(2020, "panel"), "fit_seconds"] > 0
    assert np.isnan(timings.loc[(2019, "persistence"), "fit_seconds"])
    assert timings["n_cases"].sum() == len(result.cases)

    out = tmp_path / "backtest"
    paths = backtest.write_backtest(result, out, command="bayes-needs backtest --x")
    assert sorted(p.name for p in out.iterdir()) == sorted([*backtest.OUTPUT_FILES, *SET_FILES])
    assert [p.name for p in paths] == list(backtest.OUTPUT_FILES)
    assert (out / backtest.BACKTEST_PNG).read_bytes()[:8] == PNG_SIGNATURE
    summary = pd.read_csv(out / backtest.BACKTEST_CSV)
    assert set(BACKTEST_COLUMNS) <= set(summary.columns) and len(summary) == 24
    # Common cases: each model scored on the same cases, the ones persistence forecast too.
    common = summary[summary["cases"] == "common"]
    assert (common.groupby(["service", "horizon"])["n"].nunique() == 1).all()
    every = summary[summary["cases"] == "all"].set_index(["model", "service", "horizon"])
    shared = common.set_index(["model", "service", "horizon"])["n"]
    assert (shared <= every["n"]).all()
    assert (shared.xs("persistence") == every["n"].xs("persistence")).all()
    cases = pd.read_csv(out / backtest.CASES_CSV)
    assert len(cases) == len(result.cases)
    assert description(out / backtest.BACKTEST_CSV).startswith("intervals: 50% and 90%")
    text = (out / backtest.SUMMARY_TXT).read_text()
    assert "bayes-needs backtest --x" in text and "single_year" in text
    assert "seconds per origin and model" in text


def test_a_failed_write_leaves_earlier_outputs_alone(panel, config, tmp_path):
    result = backtest.run_backtest(config, panel, [2019], horizon=1, models=["persistence"],
                                   n_draws=20, random_seed=2)
    out = tmp_path / "out"
    backtest.write_backtest(result, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = backtest.BacktestResult(result.cases, result.summary.drop(columns="coverage_50"),
                                     result.timings, result.origins, result.horizon,
                                     result.models, result.n_draws, result.random_seed)
    with pytest.raises(ConfigError, match="coverage_50"):
        backtest.write_backtest(broken, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_common_cases_are_those_every_model_forecast():
    rows = [(m, "cla", origin, 1, la, origin + 1)
            for m in ("panel", "persistence") for origin in (2019, 2020) for la in ("A", "B")
            if not (m == "persistence" and origin == 2019)]
    cases = pd.DataFrame(rows, columns=list(LABELS)).assign(crps=1.0)
    common = backtest.common_cases(cases, ["panel", "persistence"])
    assert len(common) == 4 and set(common["origin"]) == {2020}
    assert common.groupby("model").size().to_dict() == {"panel": 2, "persistence": 2}
