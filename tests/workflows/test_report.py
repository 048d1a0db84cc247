"""``bayes-needs report``: the decision-maker section first (money per LA from the draws,
change against a baseline, map, deprivation plot), every plot present, embedded and
decodable, the page renders in headless Chromium, and the diagnostics behind it (LOO per LA,
power-scaling) are consistent.

The fast fixture fits the tiny synthetic model with PyMC's mock sampler (independent draws
from concentrated priors, with a recorded sampler energy), so every plot has its inputs; the
slow test builds the report of a real NUTS fit. The Chromium test is skipped, saying why, when
no Chromium binary is installed (``.ci/run`` installs one).
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg
from sampling_mocks import patched_sample, write_concentrated_priors

from bayes_needs.allocation import Allocation
from bayes_needs.checks import diagnostics
from bayes_needs.cli import main
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.workflows import pipeline
from bayes_needs.workflows import report as report_workflow
from bayes_needs.workflows.report import (
    DECISION_CSV,
    DECISION_PLOTS,
    OUTPUT_FILES,
    PLOTS,
    REPORT_FILE,
    build_report,
)
from bayes_needs.workflows.report_decision import decision_inputs

ALL_PLOTS = (*DECISION_PLOTS, *PLOTS)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def mocked(energy: bool):
    rng = np.random.default_rng(0)
    return patched_sample(**({"energy": lambda size: rng.normal(size=size)} if energy else {}))


def demo(tmp_path: Path, *, energy: bool) -> Path:
    priors = write_concentrated_priors(tmp_path)
    run = tmp_path / "run"
    with mocked(energy):
        assert main(["demo", "--scale", "tiny", "--out", str(run), "--draws", "60", "--tune",
                     "1", "--no-progress", "--priors", str(priors)]) == 0
    return run


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    run = demo(tmp_path_factory.mktemp("report"), energy=True)
    assert main(["report", str(run), "--seed", "3"]) == 0
    return run


def embedded_images(page: str) -> dict[str, tuple[str, bytes]]:
    """data-plot -> (alt text, PNG bytes) of every embedded image."""
    found = {}
    for tag in re.findall(r"<img [^>]*>", page):
        plot = re.search(r'data-plot="([^"]+)"', tag).group(1)
        alt = re.search(r'alt="([^"]*)"', tag).group(1)
        data = re.search(r'src="data:image/png;base64,([^"]+)"', tag).group(1)
        found[plot] = (alt, base64.b64decode(data))
    return found


@pytest.mark.parametrize("draws", [{"max_draws": 1}, {"predictive_draws": 1}])
def test_fewer_draws_than_psis_needs_are_refused_before_loading(tmp_path, draws):
    with pytest.raises(ConfigError, match=rf"{next(iter(draws))} .* 1: the report's "
                                          rf"PSIS-LOO needs at least "
                                          rf"{diagnostics.MIN_PSIS_DRAWS} draws"):
        build_report(tmp_path, **draws)


def test_every_plot_is_embedded_with_alt_text(report_run):
    page = (report_run / REPORT_FILE).read_text(encoding="utf-8")
    images = embedded_images(page)
    assert list(images) == [stem for stem, _ in ALL_PLOTS]
    for stem, title in ALL_PLOTS:
        alt, png = images[stem]
        assert alt == title
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300, stem
        assert pixels[..., :3].std() > 0.05, f"{stem} is blank"
        assert (report_run / "plots" / f"{stem}.png").read_bytes() == png
    for title in ("Trace plot", "Rank plot", "Energy plot", "Posterior predictive check",
                  "LOO-PIT", "Pareto k per LA", "Forest plot of LA shares", "LA ranking plot"):
        assert title in page


def test_report_is_self_contained_and_error_free(report_run):
    page = (report_run / REPORT_FILE).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for marker in ("unavailable", "Traceback", "Error", "nan%"):
        assert marker not in page, marker


def test_the_decision_section_comes_first(report_run):
    page = (report_run / REPORT_FILE).read_text(encoding="utf-8")
    order = [page.index(marker) for marker in (
        'id="decision"', 'data-plot="hex_map"', 'data-plot="per_child_vs_deprivation"',
        'id="decision-table"', 'id="diagnostics"', 'id="run"', 'id="convergence"',
        'data-plot="trace"')]
    assert order == sorted(order)
    section = page[page.index('id="decision"'):page.index('id="diagnostics"')]
    # The mocked fit fails the convergence gate, and the section says so first.
    assert section.index("failed the convergence gate") < section.index("data-plot")
    for text in ("£1,000,000,000", "GBP", "90% equal-tailed", "population share", "P(gain)",
                 "grid in code order"):
        assert text in section, text


def children_per_la(fit) -> pd.Series:
    """Child population per LA, summed independently of the package's geography helper."""
    table = fit.model.data.geography.to_frame()
    return pd.Series(fit.model.data.exposure, index=table["la_code"].to_numpy()) \
        .groupby(level=0).sum()


def test_decision_table_is_the_allocation_draws_summarised(report_run):
    allocation = Allocation.from_netcdf(report_run / pipeline.ALLOCATION_FILE)
    table = pd.read_csv(report_run / DECISION_CSV).set_index("la_code")
    share = allocation.draws["share"]
    codes = [str(c) for c in share["la"].to_numpy()]
    draws = share.transpose("chain", "draw", "la").to_numpy().reshape(-1, len(codes))
    children = children_per_la(pipeline.load_fit(report_run)).loc[codes].to_numpy()
    baseline = children / children.sum()   # the default baseline: population share
    pot = 1e9
    for name, values in {"allocation": draws * pot, "per_child": draws * pot / children,
                         "change": (draws - baseline) * pot}.items():
        lower, upper = np.quantile(values, [0.05, 0.95], axis=0)
        np.testing.assert_allclose(table.loc[codes, f"{name}_mean"], values.mean(axis=0))
        np.testing.assert_allclose(table.loc[codes, f"{name}_lower"], lower)
        np.testing.assert_allclose(table.loc[codes, f"{name}_upper"], upper)
    np.testing.assert_allclose(table.loc[codes, "prob_gain"], (draws > baseline).mean(axis=0))
    np.testing.assert_allclose(table.loc[codes, "children"], children)


def test_an_earlier_runs_allocations_csv_is_the_baseline(report_run, tmp_path):
    earlier = pd.read_csv(report_run / pipeline.ALLOCATIONS_CSV)
    earlier["share_mean"] = np.linspace(1.0, 2.0, len(earlier))
    path = tmp_path / "allocations.csv"
    path.write_text("# an earlier run\n" + earlier.to_csv(index=False), encoding="utf-8")
    fit = pipeline.load_fit(report_run)
    allocation = Allocation.from_netcdf(report_run / pipeline.ALLOCATION_FILE)
    inputs = decision_inputs(fit, allocation, baseline=path)
    expected = earlier.set_index("la_code")["share_mean"] / earlier["share_mean"].sum()
    codes = [str(c) for c in allocation.la_codes]
    np.testing.assert_allclose(inputs.baseline_share.loc[codes], expected.loc[codes])
    assert "allocations.csv" in inputs.baseline_label


@pytest.mark.parametrize(("text", "message"), [
    ("la_code,share\nSLA0001,-2\n", "line 2, column 'share': '-2' is not a finite number"),
    ("code,share\nSLA0001,1\n", "needs column 'la_code'"),
])
def test_a_bad_baseline_is_a_user_error_naming_file_line_and_column(report_run, tmp_path,
                                                                      capsys, text, message):
    path = tmp_path / "baseline.csv"
    path.write_text(text, encoding="utf-8")
    code = main(["report", str(report_run), "--baseline", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and message in err and "Traceback" not in err
    code = main(["report", str(report_run), "--baseline", str(tmp_path / "nowhere.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "--baseline: file" in err and "nowhere.csv does not exist" in err


def test_high_pareto_k_points_to_la_grouped_kfold(report_run):
    page = (report_run / REPORT_FILE).read_text(encoding="utf-8")
    pareto = pd.read_csv(report_run / "pareto_k.csv")
    flagged = int((pareto["flag"] != "ok").sum())
    assert flagged > 0  # the mocked fit's LAs are influential
    advice = page[page.index('data-plot="pareto_k"'):page.index('id="shares_forest"')]
    named = f"{flagged} LA has" if flagged == 1 else f"{flagged} LAs have"
    assert f"{named} Pareto k above" in advice
    assert "LA-grouped K-fold cross-validation" in advice


def test_tables_written_beside_the_report(report_run):
    fit = pipeline.load_fit(report_run)
    pareto = pd.read_csv(report_run / "pareto_k.csv")
    observed = fit.model.data.la_totals().notna().to_numpy().any(axis=1)
    assert sorted(pareto["la_code"]) == sorted(fit.model.data.geography.la_codes[observed])
    assert pareto["pareto_k"].is_monotonic_decreasing
    assert set(pareto["flag"]) <= {"ok", "high", "very high"}
    psens = pd.read_csv(report_run / "power_scaling.csv")
    post = idata_io.posterior(fit.idata)
    expected = sum(int(post[v].size / (post.sizes["chain"] * post.sizes["draw"]))
                   for v in ("intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion"))
    assert len(psens) == expected
    assert psens["prior"].notna().all() and psens["likelihood"].notna().all()


def test_la_log_likelihood_sums_every_observation_in_the_la(report_run):
    fit = pipeline.load_fit(report_run)
    thin = idata_io.thinned(fit.idata, 40)
    assert idata_io.posterior(thin).sizes["chain"] * idata_io.posterior(thin).sizes["draw"] <= 40
    with_logs = diagnostics.log_densities(fit.model, thin)
    by_la = diagnostics.log_likelihood_by_la(fit.model, with_logs)
    ll = idata_io.log_likelihood(with_logs)
    # Independent route: area code -> LA code through the geography table.
    table = fit.model.data.geography.to_frame()
    to_la = {**dict(zip(table["lsoa_code"], table["la_code"], strict=True)),
             **dict(zip(table["msoa_code"], table["la_code"], strict=True)),
             **{c: c for c in table["la_code"]}}
    expected = {la: 0.0 for la in table["la_code"].unique()}
    for name in ll.data_vars:
        values = ll[name]
        obs_dim = next(d for d in values.dims if d not in ("chain", "draw"))
        for code, column in zip(values[obs_dim].to_numpy(),
                                values.isel(chain=0, draw=0).to_numpy(), strict=True):
            expected[to_la[str(code)]] += float(column)
    got = by_la.isel(chain=0, draw=0).to_series()
    for la, value in expected.items():
        assert got[la] == pytest.approx(value, rel=1e-10, abs=1e-9), la
    assert len({v for v in expected.values() if v != 0}) > 1


def test_power_scaling_diagnosis_follows_priorsense():
    assert diagnostics.diagnose(0.06, 0.2) == diagnostics.CONFLICT
    assert diagnostics.diagnose(0.06, 0.01) == diagnostics.STRONG_PRIOR
    assert diagnostics.diagnose(0.01, 0.01) == "-"
    assert diagnostics.diagnose(0.04, 0.5) == "-"
    assert diagnostics.diagnose(float("nan"), 0.5) == "-"
    assert diagnostics.diagnose(0.06, 0.2, threshold=0.1) == "-"


def test_missing_energy_is_shown_as_unavailable(tmp_path):
    run = demo(tmp_path, energy=False)
    assert main(["report", str(run)]) == 0
    page = (run / REPORT_FILE).read_text(encoding="utf-8")
    assert 'class="note unavailable"' in page and "sample_stats.energy" in page
    assert len(embedded_images(page)) == len(ALL_PLOTS)


def test_report_of_a_missing_run_is_a_user_error(tmp_path, capsys):
    code = main(["report", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["report", str(empty)])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def snapshot(run: Path) -> dict[str, bytes | None]:
    """Every path under ``run`` (hidden ones included) -> file bytes, None for a directory."""
    return {str(p.relative_to(run)): p.read_bytes() if p.is_file() else None
            for p in sorted(run.rglob("*"))}


def test_report_files_are_the_output_set(report_run):
    written = {k for k, v in snapshot(report_run).items() if v is not None}
    assert set(OUTPUT_FILES) <= written
    assert set(pipeline.OUTPUT_FILES) <= written


def test_a_new_report_replaces_the_old_one_and_keeps_the_run(report_run, tmp_path):
    run = copy_of(report_run, tmp_path)
    (run / "plots" / "mine.png").write_bytes(b"not a report plot")
    before = snapshot(run)
    build_report(run, random_seed=4, max_draws=40, predictive_draws=20)
    after = snapshot(run)
    assert list(after) == list(before)  # nothing removed, nothing left behind
    assert after["plots/mine.png"] == b"not a report plot"
    for name in pipeline.OUTPUT_FILES:
        assert after[name] == before[name], name
    assert after[REPORT_FILE] != before[REPORT_FILE]
    assert after[report_workflow.PARETO_CSV] != before[report_workflow.PARETO_CSV]
    page = after[REPORT_FILE].decode("utf-8")
    for stem, (_, png) in embedded_images(page).items():
        assert after[f"plots/{stem}.png"] == png, stem


def test_a_failed_report_leaves_the_previous_one_and_nothing_new(report_run, tmp_path,
                                                                   monkeypatch):
    run = copy_of(report_run, tmp_path)
    before = snapshot(run)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    # report.html is the last file of the set: every plot and CSV is staged by then.
    monkeypatch.setattr(report_workflow, "write_text", disk_full)
    with pytest.raises(OSError, match="No space left"):
        build_report(run, random_seed=4, max_draws=40, predictive_draws=20)
    assert snapshot(run) == before


def chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def test_report_renders_in_headless_chromium(report_run, tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium binary (chromium, chromium-browser or google-chrome) on "
                    "PATH; .ci/run installs it with apt-get")
    report = (report_run / REPORT_FILE).resolve()
    screenshot = tmp_path / "report.png"
    print(f"report screenshot: {screenshot}")
    profile = tmp_path / "profile"
    common = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
              "--v=0"]
    shot = subprocess.run([*common, f"--screenshot={screenshot}", "--window-size=1200,6000",
                           report.as_uri()], capture_output=True, text=True, timeout=180)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 50_000
    pixels = mpimg.imread(screenshot)
    assert pixels.shape[:2] == (6000, 1200)
    assert pixels[..., :3].std() > 0.05  # not a blank page
    dom = subprocess.run([*common, "--dump-dom", report.as_uri()], capture_output=True,
                         text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for _, title in ALL_PLOTS:
        assert f'alt="{title}"' in dom.stdout, title
    rendered = dom.stdout
    assert rendered.index('id="decision"') < rendered.index('id="diagnostics"') \
        < rendered.index('alt="Trace plot"')
    assert "For decision-makers: the allocation per LA" in rendered
    assert rendered.count("<tr>") > 5
    for log in (shot.stderr, dom.stderr):
        # Page errors are logged as console messages; Chromium's own D-Bus noise is not.
        assert not re.search(r"CONSOLE\(\d+\)|Uncaught|Failed to load resource", log), log


@pytest.mark.slow
def test_report_of_a_real_fit(tmp_path):
    run = tmp_path / "run"
    assert main(["demo", "--scale", "tiny", "--out", str(run), "--draws", "100", "--tune",
                 "100", "--no-progress", "--seed", "5"]) == 0
    assert main(["report", str(run)]) == 0
    page = (run / REPORT_FILE).read_text(encoding="utf-8")
    assert len(embedded_images(page)) == len(ALL_PLOTS)
    assert "unavailable" not in page
    pareto = pd.read_csv(run / "pareto_k.csv")
    assert np.isfinite(pareto["pareto_k"]).all()
