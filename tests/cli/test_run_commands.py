"""``bayes-needs demo``, ``fit`` and ``allocate`` end to end, in-process, with a mocked
sampler (prior draws stand in for MCMC) at tiny scale, plus the user errors that must exit 2
with a message and no traceback.

The default priors are deliberately wide, so their draws are far more skewed than any
posterior (a mean can then legitimately fall outside a 90% interval). The synthetic runs
therefore pass a concentrated prior file with ``--priors``, which makes the mocked draws
posterior-like and also exercises that option end to end.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from clitools import run_cli
from csv_meta import description
from sampling_mocks import patched_sample, write_concentrated_priors

from bayes_needs.cli import main
from bayes_needs.core import idata as idata_io
from bayes_needs.simulate.area import generate_area

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAMPLING = ["--draws", "20", "--tune", "20", "--no-progress"]
ALLOCATION_COLUMNS = ["la_code", "la_name", "share_mean", "share_median", "share_lower",
                      "share_upper", "rank_median", "rank_lower", "rank_upper",
                      "allocation_mean"]
DEMAND_COLUMNS = ["la_code", "service", "observed", "needs_mean", "needs_lower",
                  "needs_upper", "fitted_mean", "fitted_lower", "fitted_upper"]
RUN_FILES = ["allocations.csv", "demand.csv", "fit.nc", "allocation.nc", "summary.txt",
             "run.json"]


@pytest.fixture(scope="module")
def priors_file(tmp_path_factory) -> Path:
    return write_concentrated_priors(tmp_path_factory.mktemp("priors"), "concentrated.toml")


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def first_line(path: Path) -> str:
    """The first line describing a CSV output, in its metadata sidecar."""
    return description(path).splitlines()[0]


def check_allocations(path: Path, la_codes) -> pd.DataFrame:
    table = read_table(path)
    assert set(ALLOCATION_COLUMNS) <= set(table.columns)
    assert sorted(table["la_code"]) == sorted(la_codes)
    assert table["la_code"].is_unique
    np.testing.assert_allclose(table["share_mean"].sum(), 1.0, rtol=1e-8)
    assert (table["share_lower"] <= table["share_median"] + 1e-15).all()
    assert (table["share_median"] <= table["share_upper"] + 1e-15).all()
    assert (table["share_lower"] >= 0).all() and (table["share_upper"] <= 1).all()
    assert (table["rank_lower"] <= table["rank_upper"]).all()
    assert table["rank_lower"].min() >= 1 and table["rank_upper"].max() <= len(table)
    return table


def check_demand(path: Path, la_codes, services, *, interval_prob: float = 0.9
                 ) -> pd.DataFrame:
    table = read_table(path)
    assert set(DEMAND_COLUMNS) <= set(table.columns)
    assert len(table) == len(la_codes) * len(services)
    assert set(zip(table["la_code"], table["service"], strict=True)) == \
        {(la, s) for la in la_codes for s in services}
    for prefix in ("needs", "fitted"):
        columns = [f"{prefix}_{k}" for k in ("lower", "mean", "upper")]
        assert np.isfinite(table[columns].to_numpy()).all()
        lower, mean, upper = (table[c] for c in columns)
        assert (lower >= 0).all()
        assert (lower <= mean * (1 + 1e-12)).all(), table[lower > mean]
        assert (mean <= upper * (1 + 1e-12)).all(), table[mean > upper]
    # The needs summaries are the mean and equal-tailed quantiles of the need draws kept in
    # allocation.nc.
    draws = xr.load_dataset(path.parent / "allocation.nc", engine="h5netcdf")["need"]
    flat = draws.stack(sample=("chain", "draw")).transpose("la", "service", "sample")
    cube = flat.to_numpy()
    tail = (1 - interval_prob) / 2
    index = pd.MultiIndex.from_arrays([table["la_code"], table["service"]])
    la_pos = flat.indexes["la"].get_indexer(index.get_level_values(0))
    service_pos = flat.indexes["service"].get_indexer(index.get_level_values(1))
    picked = cube[la_pos, service_pos]
    np.testing.assert_allclose(table["needs_mean"], picked.mean(axis=1), rtol=1e-8)
    np.testing.assert_allclose(table["needs_lower"], np.quantile(picked, tail, axis=1),
                               rtol=1e-8)
    np.testing.assert_allclose(table["needs_upper"], np.quantile(picked, 1 - tail, axis=1),
                               rtol=1e-8)
    return table


# ====================================================================== demo
@pytest.fixture(scope="module")
def demo_run(priors_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    with patched_sample():
        code = main(["demo", "--scale", "tiny", "--out", str(out), *SAMPLING,
                     "--priors", str(priors_file)])
    return code, out


def test_demo_writes_every_output(demo_run):
    code, out = demo_run
    assert code == 0
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    data = generate_area("tiny", random_seed=0).data
    la_codes = list(data.geography.la_codes)
    assert first_line(out / "allocations.csv").startswith("interval: 90% ")
    table = check_allocations(out / "allocations.csv", la_codes)
    np.testing.assert_allclose(table["allocation_mean"].sum(), 1.0e9, rtol=1e-8)
    check_demand(out / "demand.csv", la_codes, data.services)
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "R-hat" in summary
    assert "divergences:" in summary
    assert "pot: 1,000,000,000.00 GBP" in summary  # the default pot, recorded where used
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert (run["config"]["allocation"]["pot"], run["config"]["allocation"]["currency"]) == \
        (1.0e9, "GBP")
    assert run["config"]["data"]["source"] == "synthetic"
    assert run["config"]["sampling"]["draws"] == 20
    assert run["data_hash"] == data.data_hash()
    stored = idata_io.get_config(idata_io.load(out / "fit.nc"))
    assert stored["priors"]["priors"]["intercept"]["kwargs"] == {"mu": -4.5, "sigma": 0.1}


def test_demo_demand_observed_matches_the_data(demo_run):
    _, out = demo_run
    data = generate_area("tiny", random_seed=0).data
    demand = read_table(out / "demand.csv").set_index(["la_code", "service"])["observed"]
    totals = data.la_totals().stack(future_stack=True)
    totals.index.names = ["la_code", "service"]
    np.testing.assert_array_equal(demand.loc[totals.index].to_numpy(), totals.to_numpy())


def test_demo_is_reproducible(demo_run, mocked_sampler, priors_file, tmp_path):
    _, out = demo_run
    again = tmp_path / "again"
    assert main(["demo", "--scale", "tiny", "--out", str(again), *SAMPLING,
                 "--priors", str(priors_file)]) == 0
    assert (again / "allocations.csv").read_bytes() == (out / "allocations.csv").read_bytes()
    assert (again / "demand.csv").read_bytes() == (out / "demand.csv").read_bytes()


# ====================================================================== fit from files
def write_inputs(directory: Path, seed: int = 3) -> dict[str, Path]:
    data = generate_area("tiny", random_seed=seed, services=("cin", "cla")).data
    paths = {name: directory / f"{name}.csv" for name in ("geography", "lsoa", "counts")}
    data.geography.to_frame().to_csv(paths["geography"], index=False)
    lsoa = data.covariates.reset_index(drop=True)
    lsoa.insert(0, "children", data.exposure)
    lsoa.insert(0, "lsoa_code", data.geography.lsoa_codes)
    lsoa.to_csv(paths["lsoa"], index=False)
    data.observations.to_csv(paths["counts"], index=False)
    return paths


def file_args(paths: dict[str, Path]) -> list[str]:
    return ["--geography", str(paths["geography"]), "--lsoa-table", str(paths["lsoa"]),
            "--counts", str(paths["counts"])]


@pytest.fixture(scope="module")
def files_run(priors_file, tmp_path_factory):
    base = tmp_path_factory.mktemp("files")
    paths = write_inputs(base)
    run = base / "run"
    with patched_sample():
        code = main(["fit", *file_args(paths), "--out", str(run), *SAMPLING,
                     "--priors", str(priors_file)])
    return code, run, paths


def test_fit_from_files_then_allocate(files_run, capsys):
    code, run, paths = files_run
    assert code == 0
    assert (run / "fit.nc").is_file() and (run / "run.json").is_file()
    stored = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert stored["config"]["data"]["source"] == "files"
    assert not (run / "allocations.csv").exists()

    # 20 mocked draws miss the convergence gate; the override is what is tested elsewhere.
    stored_run = (run / "run.json").read_bytes()
    code, out, err = run_cli(capsys, "allocate", run, "--interval-prob", "0.8",
                             "--allow-unconverged")
    assert code == 0, err
    # The options apply to this allocation only: the fit's stored config is not changed.
    assert (run / "run.json").read_bytes() == stored_run
    assert "allocations.csv" in out
    assert first_line(run / "allocations.csv").startswith("interval: 80% ")
    geography = pd.read_csv(paths["geography"])
    la_codes = sorted(geography["la_code"].unique())
    check_allocations(run / "allocations.csv", la_codes)
    check_demand(run / "demand.csv", la_codes, ("cin", "cla"), interval_prob=0.8)
    assert "80%" in first_line(run / "demand.csv")


def test_allocate_refuses_changed_counts(files_run, capsys, tmp_path):
    code, run, paths = files_run
    assert code == 0
    # Work on copies so the other tests keep the original inputs.
    copy_run = tmp_path / "run"
    shutil.copytree(run, copy_run)
    counts_copy = tmp_path / "counts.csv"
    shutil.copy(paths["counts"], counts_copy)
    stored = json.loads((copy_run / "run.json").read_text(encoding="utf-8"))
    stored["config"]["data"]["counts"] = str(counts_copy)
    (copy_run / "run.json").write_text(json.dumps(stored), encoding="utf-8")
    assert run_cli(capsys, "allocate", copy_run, "--allow-unconverged")[0] == 0

    counts = pd.read_csv(counts_copy)
    counts.loc[0, "count"] += 1
    counts.to_csv(counts_copy, index=False)
    code, _, err = run_cli(capsys, "allocate", copy_run, "--allow-unconverged")
    assert code == 2
    assert "hash" in err
    assert "Traceback" not in err


@pytest.mark.skipif(importlib.util.find_spec("nutpie") is None, reason="nutpie not installed")
def test_sampler_nutpie_is_accepted(mocked_sampler, capsys, tmp_path):
    paths = write_inputs(tmp_path)
    code, _, err = run_cli(capsys, "fit", *file_args(paths), "--out", tmp_path / "run",
                           "--sampler", "nutpie", *SAMPLING)
    assert code == 0, err
    stored = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert stored["config"]["sampling"]["sampler"] == "nutpie"


# ====================================================================== real data
@pytest.mark.realdata
def test_fit_real_england_with_allocate(mocked_sampler, data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "fit", "--config", EXAMPLES / "england_area.toml",
                           "--data-dir", data_dir, "--year", "2024", "--out", run,
                           "--draws", "10", "--tune", "10", "--no-progress", "--allocate",
                           "--allow-unconverged")
    assert code == 0, err
    allocations = read_table(run / "allocations.csv")
    assert len(allocations) == 153 and allocations["la_code"].is_unique
    np.testing.assert_allclose(allocations["share_mean"].sum(), 1.0, rtol=1e-8)
    demand = read_table(run / "demand.csv")
    assert len(demand) == 153 * 4
    assert set(demand["service"]) == {"cla", "cin", "cpp", "referrals"}
    assert (demand.groupby("service")["la_code"].nunique() == 153).all()
    stored = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert stored["config"]["data"]["year"] == 2024
    assert stored["config"]["sampling"]["draws"] == 10


# ====================================================================== user errors
def assert_user_error(result, *fragments: str) -> None:
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err
    assert err.strip(), "no message on stderr"
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_allocate_missing_run_dir(capsys, tmp_path):
    missing = tmp_path / "no_such_run"
    assert_user_error(run_cli(capsys, "allocate", missing), "no_such_run", "does not exist")


def test_allocate_run_dir_without_fit(files_run, capsys, tmp_path):
    _, run, _ = files_run
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run_cli(capsys, "allocate", empty), "does not exist")
    no_fit = tmp_path / "no_fit"
    no_fit.mkdir()
    shutil.copy(run / "run.json", no_fit / "run.json")
    assert_user_error(run_cli(capsys, "allocate", no_fit), "fit.nc", "does not exist")


def test_demo_unknown_scale(capsys, tmp_path):
    assert_user_error(run_cli(capsys, "demo", "--scale", "galaxy", "--out", tmp_path / "o"),
                      "galaxy")
    assert not (tmp_path / "o").exists()


def test_interval_prob_out_of_range(capsys, tmp_path):
    assert_user_error(run_cli(capsys, "demo", "--scale", "tiny", "--out", tmp_path / "o",
                              "--interval-prob", "1.5"),
                      "--interval-prob 1.5", "allocation.interval_prob", "less than 1")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("option", "value", "field"), [
    ("--interval-prob", "1.5", "allocation.interval_prob"),
    ("--interval-kind", "median", "allocation.interval_kind"),
    ("--pot", "-5", "allocation.pot"),
])
def test_allocate_refuses_a_bad_option_before_loading(files_run, capsys, tmp_path, option,
                                                      value, field):
    _, run, _ = files_run
    out = tmp_path / "out"
    result = run_cli(capsys, "allocate", run, "--out", out, option, value)
    assert_user_error(result, f"{option} {value}", field)
    assert "loading" not in result[2]  # refused before the fit and its data are reloaded
    assert not out.exists()


def test_sampler_bogus_rejected(capsys, tmp_path):
    assert_user_error(run_cli(capsys, "demo", "--scale", "tiny", "--out", tmp_path / "o",
                              "--sampler", "bogus"), "bogus")
    assert not (tmp_path / "o").exists()


def write_config(directory: Path, text: str) -> Path:
    path = directory / "run.toml"
    path.write_text("schema_version = 1\n" + text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, fragments", [
    ("[sampling]\ndraws = 10\nburn_in = 5\n", ("sampling.burn_in", "unknown key")),
    ("colour = 'blue'\n", ("colour", "unknown key")),
    ("[data]\nsource = 'synthetic'\nscale = 'tiny'\n[allocation.cost_weights]\n"
     "referrals = 1.0\ncin = -3000.0\n", ("cost_weights", "cin")),
])
def test_bad_run_config(capsys, tmp_path, text, fragments):
    config = write_config(tmp_path, text)
    result = run_cli(capsys, "fit", "--config", config, "--out", tmp_path / "run")
    assert_user_error(result, str(config), *fragments)
    assert not (tmp_path / "run" / "fit.nc").exists()


@pytest.mark.parametrize("extra", [[], ["--year", "2024"]])
def test_fit_england_without_data_dir(capsys, tmp_path, extra):
    result = run_cli(capsys, "fit", "--config", EXAMPLES / "england_area.toml", *extra,
                     "--out", tmp_path / "run")
    assert_user_error(result, "--data-dir")
    assert not (tmp_path / "run" / "fit.nc").exists()
