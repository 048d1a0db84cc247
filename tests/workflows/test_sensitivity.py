"""Scenario files, the allocation choices they can vary, running them on an executor, the
comparison with the base and ``bayes-needs sensitivity``.

Fast tests use PyMC's mock sampler in this process (``workers=1`` runs scenarios in-process).
The slow tests sample for real, in worker processes and on a dask ``LocalCluster``, and check
that the results are identical.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from sampling_mocks import concentrated_priors_toml
from scenario_results import fake_result, shares

from bayes_needs.cli import main
from bayes_needs.config.run import RunConfig, parse_run_config
from bayes_needs.config.scenarios import Scenario, load_scenarios
from bayes_needs.core import dims
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigFileError,
    DataValidationError,
    MissingDataError,
)
from bayes_needs.core.outputs import SET_FILES
from bayes_needs.data.unit_costs import load_unit_costs
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows import sensitivity
from bayes_needs.workflows.allocation_inputs import baseline_shares, unit_cost_weights

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY_SCENARIOS = """
schema_version = 1
description = "tiny test scenarios"
[base.data]
source = "synthetic"
scale = "tiny"
services = ["cin", "cla"]
[base.sampling]
draws = {draws}
tune = {tune}
chains = 2
random_seed = 11
{priors}
[variations.poisson]
description = "Poisson split"
[variations.poisson.model]
family = "poisson"
[variations.damped.allocation]
baseline = "population"
damping_floor = -0.02
damping_cap = 0.02
[variations.no_standardisation.need]
standardise = "none"
[variations.unit_costs.allocation]
unit_costs = "default"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ====================================================================== scenario files
def test_example_scenario_file_has_six_or_more_variations_at_region_scale():
    scenarios = load_scenarios(EXAMPLES / "scenarios.toml")
    assert len(scenarios.variations) >= 6
    assert scenarios.base.config.data.scale == "region"
    base = scenarios.base.config.model_dump()
    for variation in scenarios.variations:
        config = variation.config.model_dump()
        changed = {s for s in config if config[s] != base[s]}
        assert changed, variation.name
        assert changed <= set(variation.changes), (variation.name, changed)
        # Seeds are inherited, so scenarios differ only in what they change.
        assert variation.config.sampling.random_seed == scenarios.base.config.sampling.random_seed
        assert variation.config.need.random_seed == scenarios.base.config.need.random_seed


def test_example_england_scenario_file_is_valid():
    scenarios = load_scenarios(EXAMPLES / "scenarios_england.toml")
    assert scenarios.base.config.data.source == "england"
    years = {v.name: v.config.data.year for v in scenarios.variations}
    assert years["year_2023"] == 2023
    located = scenarios.with_base_overrides(data={"data_dir": "/data", "year": 2024})
    assert {s.name: s.config.data.year for s in located.scenarios}["year_2023"] == 2023
    assert located.base.config.data.year == 2024
    assert all(s.config.data.data_dir == "/data" for s in located.scenarios)
    # The base config's fixed weights give way to the variation's unit-cost table.
    table = {v.name: v.config.allocation for v in located.variations}["unit_cost_table"]
    assert table.unit_costs == "default" and table.cost_weights is None


def test_variation_priors_merge_by_name_with_the_base_file(tmp_path):
    write(tmp_path / "priors.toml", """
        schema_version = 1
        [priors.intercept]
        dist = "Normal"
        kwargs = { mu = -3.0, sigma = 1.0 }
        dims = ["service"]
        """)
    file = write(tmp_path / "s.toml", """
        schema_version = 1
        [base]
        priors = "priors.toml"
        [base.data]
        source = "synthetic"
        [variations.tight.priors.sigma_la]
        dist = "HalfNormal"
        kwargs = { sigma = 0.2 }
        dims = ["service"]
        """)
    scenarios = load_scenarios(file)
    assert scenarios.base.config.priors == str((tmp_path / "priors.toml").resolve())
    merged = scenarios.variations[0].config.priors
    assert merged["intercept"]["kwargs"] == {"mu": -3.0, "sigma": 1.0}
    assert merged["sigma_la"]["kwargs"] == {"sigma": 0.2}


def test_relative_paths_resolve_against_the_scenario_file(tmp_path):
    sub = tmp_path / "configs"
    sub.mkdir()
    write(sub / "baseline.csv", "la_code,share\n")
    file = write(sub / "s.toml", """
        schema_version = 1
        [base.data]
        source = "synthetic"
        [variations.damped.allocation]
        baseline = "baseline.csv"
        damping_cap = 0.1
        """)
    variation = load_scenarios(file).variations[0]
    assert variation.config.allocation.baseline == str((sub / "baseline.csv").resolve())


def test_every_problem_in_a_scenario_file_is_reported_at_once(tmp_path):
    file = write(tmp_path / "bad.toml", """
        schema_version = 1
        colour = "blue"
        [base.data]
        source = "synthetic"
        [variations.a.model]
        family = "gaussian"
        [variations.b.sampling]
        draws = -5
        [variations.c]
        likelihood = "poisson"
        [variations.d.priors.sigma_lx]
        dist = "HalfNormal"
        kwargs = { sigma = 0.2 }
        [variations.e.allocation]
        damping_floor = 0.3
        [variations.f.allocation]
        damping_cap = 0.1
        [variations.g.model]
        lsoa_effects = false
        [variations.base.need]
        standardise = "none"
        """)
    with pytest.raises(ConfigFileError) as info:
        load_scenarios(file)
    problems = info.value.problems
    text = "\n".join(problems)
    assert str(file) in str(info.value)
    for fragment in ("colour", "variations.a.model", "gaussian", "variations.b.sampling.draws",
                     "variations.c: unknown key(s) ['likelihood']", "variations.d.priors",
                     "sigma_lx", "variations.e.allocation.damping_floor",
                     "variations.f.allocation", "baseline", "variations.g.model",
                     "lsoa_effects", "variations.base"):
        assert fragment in text, (fragment, text)
    assert len(problems) >= 9


@pytest.mark.parametrize("text, fragment", [
    ("schema_version = 2\n[base.data]\nsource='synthetic'\n[variations.a.model]\n"
     "family='poisson'\n", "schema_version"),
    ("schema_version = 1\n[base.data]\nsource='synthetic'\n", "no variations"),
    ("schema_version = 1\n[base]\nconfig = 'missing.toml'\n[variations.a.model]\n"
     "family='poisson'\n", "base.config"),
    ("schema_version = 1\n[variations.a]\ndescription = 'nothing'\n", "changes nothing"),
])
def test_scenario_file_errors(tmp_path, text, fragment):
    file = write(tmp_path / "s.toml", text)
    with pytest.raises(ConfigFileError, match=fragment.replace("[", r"\[")):
        load_scenarios(file)


def test_run_config_paths_are_relative_to_the_file(tmp_path):
    from bayes_needs.config.run import load_run_config

    sub = tmp_path / "cfg"
    sub.mkdir()
    file = write(sub / "run.toml", """
        schema_version = 1
        [data]
        source = "synthetic"
        [priors.sigma_la]
        dist = "HalfNormal"
        kwargs = { sigma = 0.2 }
        dims = ["service"]
        [allocation]
        baseline = "last_year.csv"
        damping_floor = -0.1
        unit_costs = "costs/unit_costs.toml"
        """)
    config = load_run_config(file)
    assert config.allocation.baseline == str((sub / "last_year.csv").resolve())
    assert config.allocation.unit_costs == str((sub / "costs" / "unit_costs.toml").resolve())
    assert config.priors == {"sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 0.2},
                                          "dims": ["service"]}}


def test_run_config_rejects_conflicting_allocation_settings():
    base = {"data": {"source": "synthetic"}}
    for allocation, fragment in (
            ({"cost_weights": {"cin": 1.0}, "unit_costs": "default"}, "at most one"),
            ({"unit_cost_uncertainty": True}, "needs unit_costs"),
            ({"damping_cap": 0.1}, "baseline"),
            ({"baseline": "population", "damping_floor": 0.1}, "damping_floor")):
        with pytest.raises(ConfigFileError, match=fragment):
            parse_run_config({**base, "allocation": allocation})
    with pytest.raises(ConfigFileError, match="sigma_la"):
        parse_run_config({**base, "priors": {"sigma_la": {"dist": "HalfNormal",
                                                          "kwargs": {"sigma": -1}}}})


# ====================================================================== allocation inputs
def test_unit_cost_weights_follow_the_table_and_the_service_map():
    table = load_unit_costs().unit_costs.table.set_index("activity")["unit_cost"]
    service_map = {"cin": {"cin_case_year": 1.0},
                   "cla": {"cla_foster_week": 30.0, "cla_residential_week": 22.0}}
    fixed = unit_cost_weights(None, ["cin", "cla"], service_map=service_map)
    assert fixed["cin"] == pytest.approx(table["cin_case_year"])
    assert fixed["cla"] == pytest.approx(30 * table["cla_foster_week"]
                                         + 22 * table["cla_residential_week"])
    draws = unit_cost_weights(None, ["cin", "cla"], n_draws=4000, random_seed=3,
                              service_map=service_map)
    assert draws.dims == (dims.SAMPLE, dims.SERVICE)
    # Lognormal around the median: the median of the draws is close to the fixed weight.
    np.testing.assert_allclose(float(draws.sel(service="cin").median()), fixed["cin"],
                               rtol=0.05)
    again = unit_cost_weights(None, ["cin", "cla"], n_draws=4000, random_seed=3,
                              service_map=service_map)
    xr.testing.assert_identical(draws, again)
    with pytest.raises(DataValidationError, match="no_such_service"):
        unit_cost_weights(None, ["no_such_service"])


def test_a_bad_variation_is_refused_before_any_fit(tmp_path, monkeypatch):
    def sample(*args, **kwargs):
        raise AssertionError("a scenario was fitted before every scenario was checked")

    monkeypatch.setattr(pm, "sample", sample)
    text = TINY_SCENARIOS.format(draws=5, tune=5, priors="") + \
        "[variations.missing_baseline.allocation]\nbaseline = 'nowhere.csv'\n"
    path = write(tmp_path / "scenarios.toml", text)
    with pytest.raises(BayesNeedsError, match=r"scenario 'missing_baseline' \(found before "
                                              r"any fit\): allocation\.baseline: file "
                                              r".*nowhere\.csv does not exist"):
        sensitivity.run(path, workers=1)


def test_baselines(tmp_path):
    data = generate_area("tiny", random_seed=0, services=("cin",)).data
    spec = RunConfig.model_validate({"allocation": {"baseline": "population"}}).allocation
    population = baseline_shares(spec, data)
    exposure = data.geography.aggregate(data.exposure, dims.LSOA, dims.LA)
    np.testing.assert_allclose(population.to_numpy(), exposure / exposure.sum())
    codes = list(data.geography.la_codes)
    good = tmp_path / "baseline.csv"
    pd.DataFrame({"la_code": codes[::-1], "amount": np.arange(1, len(codes) + 1) * 10.0}) \
        .to_csv(good, index=False)
    spec = RunConfig.model_validate({"allocation": {"baseline": str(good)}}).allocation
    shares = baseline_shares(spec, data)
    assert list(shares.index) == codes
    assert shares.sum() == pytest.approx(1.0)
    assert shares.iloc[-1] == pytest.approx(10.0 / (10.0 * len(codes) * (len(codes) + 1) / 2))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"la_code": [*codes[:-1], codes[0], "E99"], "share": [-1.0] + [1.0] * len(codes)}
                 ).to_csv(bad, index=False)
    spec = RunConfig.model_validate({"allocation": {"baseline": str(bad)}}).allocation
    with pytest.raises(DataValidationError) as info:
        baseline_shares(spec, data)
    text = str(info.value)
    assert "line 2, column 'share'" in text and "more than once" in text
    assert codes[-1] in text and "E99" in text
    spec = RunConfig.model_validate({"allocation": {"baseline": str(tmp_path / "no.csv")}})
    with pytest.raises(MissingDataError, match=r"no\.csv"):
        baseline_shares(spec.allocation, data)


def test_cost_weights_file_gives_weight_draws(mocked_sampler, tmp_path):
    from bayes_needs.models.cost_weights import CostWeightModel
    from bayes_needs.simulate.costs import area_cost_design
    from bayes_needs.workflows.allocation_inputs import configured_cost_weights
    from bayes_needs.workflows.costs import load_service_weights

    area = generate_area("tiny", random_seed=0)
    design, unit_costs = area_cost_design(area)
    model = CostWeightModel(area.spend, unit_costs, design)
    nc = model.save(model.fit(random_seed=5, draws=30, tune=1, chains=2, progressbar=False),
                    tmp_path / "cost_weights.nc")
    spec = RunConfig.model_validate({"allocation": {"cost_weights_file": str(nc)}}).allocation
    weights = configured_cost_weights(spec, ["cin", "cla"], random_seed=0)
    assert weights.dims == (dims.CHAIN, dims.DRAW, dims.SERVICE)
    xr.testing.assert_identical(weights, load_service_weights(nc, ["cin", "cla"]))
    assert configured_cost_weights(RunConfig().allocation, ["cin"], random_seed=0) is None


# ====================================================================== outputs
def two_scenarios(seed: int, move: float):
    """Results and comparison of a base and one variation moving two of 30 LAs."""
    rng = np.random.default_rng(seed)
    codes = [f"L{i:02d}" for i in range(30)]
    centre = np.full(30, 1 / 30)
    shifted = centre.copy()
    shifted[[3, 17]] += [move, -move]
    config = RunConfig()
    results = sensitivity.combine(
        [fake_result(shares(rng, centre, sd=1e-5), codes),
         fake_result(shares(rng, shifted, sd=1e-5), codes)],
        [Scenario("base", config), Scenario("shift", config)])
    return results, sensitivity.compare(results)


def test_write_outputs_writes_every_file(tmp_path):
    results, comparison = two_scenarios(1, 0.01)
    out = tmp_path / "new" / "out"
    paths = sensitivity.write_outputs(results, comparison, out, top=5)
    assert [p.name for p in paths] == list(sensitivity.OUTPUT_FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted([*sensitivity.OUTPUT_FILES,
                                                            *SET_FILES])
    assert (out / "tornado.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = xr.load_dataset(out / "sensitivity.nc", engine="h5netcdf")
    np.testing.assert_array_equal(back["share"].to_numpy(), results["share"].to_numpy())
    assert back["share"].attrs == {"units": "1", "long_name": "share of the national pot"}
    assert back["fit_seconds"].attrs["units"] == "s"
    table = pd.read_csv(out / "sensitivity.csv")
    np.testing.assert_allclose(table["change_pp"], comparison.per_la["change_pp"], rtol=1e-9)


def test_a_failed_write_leaves_the_previous_outputs_and_nothing_new(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("kept", encoding="utf-8")
    results, comparison = two_scenarios(1, 0.01)
    sensitivity.write_outputs(results, comparison, out, top=5)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other_results, other = two_scenarios(2, 0.02)
    assert not other.per_la.equals(comparison.per_la)

    def disk_full(self, *args, **kwargs):
        raise OSError("No space left on device")

    # sensitivity.nc is the last file of the set: every CSV and the PNG are staged by then.
    monkeypatch.setattr(xr.Dataset, "to_netcdf", disk_full)
    with pytest.raises(OSError, match="No space left"):
        sensitivity.write_outputs(other_results, other, out, top=5)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(OSError, match="No space left"):
        sensitivity.write_outputs(other_results, other, tmp_path / "fresh", top=5)
    assert not (tmp_path / "fresh").exists()


# ====================================================================== running (mocked)
@pytest.fixture
def tiny_file(tmp_path):
    return write(tmp_path / "scenarios.toml", TINY_SCENARIOS.format(
        draws=40, tune=1, priors=concentrated_priors_toml("base.priors")))


def test_run_from_a_script_in_process(mocked_sampler, tiny_file):
    seen = []
    results = sensitivity.run(tiny_file, workers=1, power_scaling=False,
                              progress=lambda done, total, name, _: seen.append((done, total,
                                                                                 name)))
    names = ["base", "poisson", "damped", "no_standardisation", "unit_costs"]
    # Progress comes in completion order; results in file order.
    assert sorted(s[2] for s in seen) == sorted(names)
    assert [s[:2] for s in seen] == [(i, 5) for i in range(1, 6)]
    assert list(results[dims.SCENARIO].to_numpy()) == names
    assert results["share"].dims == (dims.SCENARIO, dims.CHAIN, dims.DRAW, dims.LA)
    np.testing.assert_allclose(results["share"].sum(dims.LA), 1.0)
    comparison = sensitivity.compare(results)
    per_la = comparison.per_la.set_index(["scenario", "la_code"])
    # Damping keeps every LA within -2%/+2% of its population share, draw by draw.
    data = generate_area("tiny", random_seed=0, services=("cin", "cla")).data
    exposure = data.geography.aggregate(data.exposure, dims.LSOA, dims.LA)
    baseline = pd.Series(exposure / exposure.sum(), index=data.geography.la_codes)
    damped = results["share"].sel({dims.SCENARIO: "damped"})
    ratio = damped / xr.DataArray(baseline.loc[damped[dims.LA].to_numpy()].to_numpy(),
                                  dims=dims.LA)
    assert float(ratio.min()) >= 0.98 - 1e-9 and float(ratio.max()) <= 1.02 + 1e-9
    # The mock sampler draws the same prior draws whatever the likelihood family, so the
    # Poisson variation cannot move shares; standardisation does.
    assert per_la.loc["poisson", "abs_change_pp"].max() == pytest.approx(0.0, abs=1e-12)
    assert per_la.loc["no_standardisation", "abs_change_pp"].max() > 0.01
    # The packaged unit-cost table weights the services differently from the synthetic truth.
    assert per_la.loc["unit_costs", "abs_change_pp"].max() > 0.01


def test_the_same_scenarios_give_the_same_results(mocked_sampler, tiny_file):
    a = sensitivity.run(tiny_file, workers=1, power_scaling=False)
    b = sensitivity.run(load_scenarios(tiny_file).select(["damped"]), workers=1,
                        power_scaling=False)
    for name in ("base", "damped"):
        np.testing.assert_array_equal(a["share"].sel(scenario=name).to_numpy(),
                                      b["share"].sel(scenario=name).to_numpy())


def test_scenarios_differing_only_after_the_fit_share_it(mocked_sampler, tiny_file):
    scenarios = load_scenarios(tiny_file)
    keys = {s.name: sensitivity.fit_key(s.config) for s in scenarios.scenarios}
    assert keys["damped"] == keys["base"] == keys["unit_costs"] == keys["no_standardisation"]
    assert keys["poisson"] != keys["base"]
    shared = sensitivity.run(scenarios, workers=1, power_scaling=False)
    separate = sensitivity.run(scenarios, workers=1, power_scaling=False, share_fits=False)
    np.testing.assert_array_equal(shared["share"].to_numpy(), separate["share"].to_numpy())
    assert list(shared["fit_from"].to_numpy()) == ["base", "poisson", "base", "base", "base"]
    assert list(separate["fit_from"].to_numpy()) == list(separate["scenario"].to_numpy())
    summary = sensitivity.compare(shared).summary.set_index("scenario")
    assert summary.loc["damped", "fit_from"] == "base"


def test_power_scaling_is_part_of_the_results(mocked_sampler, tmp_path):
    file = write(tmp_path / "s.toml", TINY_SCENARIOS.format(
        draws=40, tune=1, priors=concentrated_priors_toml("base.priors")))
    results = sensitivity.run(load_scenarios(file).select(["poisson"]), workers=1)
    table = sensitivity.compare(results).power_scaling
    base = table[table["scenario"] == "base"]
    assert {"sigma_la[cin]", "msoa_cv[cla]", "intercept[cin]"} <= set(base["parameter"])
    assert "lsoa_dispersion[cin]" in set(base["parameter"])
    # The Poisson model has no LSOA dispersion.
    poisson = table[table["scenario"] == "poisson"]
    assert not poisson["parameter"].str.startswith("lsoa_dispersion").any()
    assert np.isfinite(table[["prior", "likelihood"]].to_numpy()).all()
    assert set(table["diagnosis"]) <= {"-", "potential prior-data conflict",
                                       "potential strong prior / weak likelihood"}


def test_cli_writes_the_tables(mocked_sampler, tiny_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["sensitivity", "--scenarios", str(tiny_file), "--out", str(out),
                 "--workers", "1", "--no-power-scaling"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[5/5]" in captured.err and "5 scenarios" in captured.err
    for name in sensitivity.OUTPUT_FILES:
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "sensitivity.csv")
    summary = pd.read_csv(out / "sensitivity_summary.csv")
    n_la = generate_area("tiny", random_seed=0).data.geography.n_la
    assert len(table) == 5 * n_la and len(summary) == 5
    assert set(table.groupby("scenario")["la_code"].nunique()) == {n_la}
    assert list(summary["scenario"]) == ["base", "poisson", "damped", "no_standardisation",
                                         "unit_costs"]
    meta = json.loads((out / "sensitivity.meta.json").read_text(encoding="utf-8"))
    assert meta["comment"][0].startswith("interval: 90% equal-tailed")


@pytest.mark.parametrize("args, fragment", [
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not allowed with"),
    (["--workers", "0"], "must be >= 1"),
    (["--only", "nope"], "unknown scenario"),
])
def test_cli_user_errors(tiny_file, tmp_path, capsys, args, fragment):
    code = main(["sensitivity", "--scenarios", str(tiny_file), "--out", str(tmp_path / "o"),
                 *args])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "o" / "sensitivity.csv").exists()


def test_cli_unreachable_scheduler(tiny_file, tmp_path, capsys):
    pytest.importorskip("distributed")
    code = main(["sensitivity", "--scenarios", str(tiny_file), "--out", str(tmp_path / "o"),
                 "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and "127.0.0.1:1" in err and "Traceback" not in err


def test_cli_bad_scenario_file_names_the_variation(tmp_path, capsys):
    bad = write(tmp_path / "bad.toml", "schema_version = 1\n[base.data]\nsource='synthetic'\n"
                                       "[variations.wide.model]\nfamily = 'gaussian'\n")
    code = main(["sensitivity", "--scenarios", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "variations.wide.model" in err and "Traceback" not in err


# ====================================================================== real sampling
@pytest.fixture(scope="module")
def real_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "scenarios.toml"
    return write(path, TINY_SCENARIOS.format(draws=40, tune=40, priors=""))


@pytest.mark.slow
def test_local_pool_and_local_cluster_give_identical_results(real_file):
    distributed = pytest.importorskip("distributed")
    local = sensitivity.run(real_file, workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        remote = sensitivity.run(real_file, executor=client)
    assert list(local[dims.SCENARIO].to_numpy()) == list(remote[dims.SCENARIO].to_numpy())
    for name in ("share", "rhat_max", "ess_bulk_min", "divergences", "psens_prior",
                 "psens_likelihood"):
        np.testing.assert_array_equal(local[name].to_numpy(), remote[name].to_numpy(),
                                      err_msg=name)
    # The scenarios really differ, so equality is not trivial.
    base = local["share"].sel(scenario="base")
    assert float(abs(local["share"].sel(scenario="no_standardisation") - base).max()) > 0


@pytest.mark.slow
def test_cli_on_a_local_cluster(real_file, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        code = main(["sensitivity", "--scenarios", str(real_file), "--out", str(tmp_path),
                     "--scheduler", cluster.scheduler_address])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "dask scheduler" in err
    summary = pd.read_csv(tmp_path / "sensitivity_summary.csv")
    assert len(summary) == 5 and summary["rhat_max"].notna().all()


@pytest.mark.slow
def test_example_file_from_cli_locally_and_from_a_script_on_a_cluster(tmp_path, capsys):
    """The acceptance run: examples/scenarios.toml (region scale, 7 variations) from the CLI on
    two local worker processes and from a script on a two-worker LocalCluster. Run with
    ``-s`` to see the summary and both wall times.
    """
    distributed = pytest.importorskip("distributed")
    example = EXAMPLES / "scenarios.toml"
    start = time.perf_counter()
    assert main(["sensitivity", "--scenarios", str(example), "--out", str(tmp_path / "local"),
                 "--workers", "2"]) == 0
    local_seconds = time.perf_counter() - start
    capsys.readouterr()
    local = xr.load_dataset(tmp_path / "local" / sensitivity.RESULTS_NC, engine="h5netcdf")
    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        remote = sensitivity.run(example, executor=client)
    cluster_seconds = time.perf_counter() - start
    assert len(local[dims.SCENARIO]) == 8
    for name in ("share", "rhat_max", "ess_bulk_min", "ess_tail_min", "divergences",
                 "psens_prior", "psens_likelihood"):
        np.testing.assert_array_equal(local[name].to_numpy(), remote[name].to_numpy(),
                                      err_msg=name)
    summary = pd.read_csv(tmp_path / "local" / sensitivity.SUMMARY_CSV)
    with capsys.disabled():
        print(f"\nlocal pool {local_seconds:.0f} s, LocalCluster {cluster_seconds:.0f} s; "
              f"identical results\n{summary.to_string(index=False)}")
    assert (summary.loc[summary["scenario"] != "base", "max_abs_change_pp"] > 0).all()


def test_scenarios_of_another_method_do_not_share_a_fit():
    base = RunConfig()
    approximate = base.with_overrides(sampling={"method": "laplace"})
    assert sensitivity.fit_key(base) != sensitivity.fit_key(approximate)
    assert sensitivity.fit_key(approximate) == sensitivity.fit_key(
        approximate.with_overrides(need={"standardise": "none"}))


def test_the_note_of_an_approximate_scenario_gives_its_pareto_k():
    result = xr.Dataset({"converged": False, "fit_seconds": 3.0, "pareto_k": 0.82,
                         "rhat_max": np.nan, "ess_bulk_min": np.nan, "divergences": 0})
    note = sensitivity.scenario_note("base", result)
    assert "approximate, Pareto k̂ 0.82" in note and "R-hat" not in note
    assert "misses convergence thresholds" in note
