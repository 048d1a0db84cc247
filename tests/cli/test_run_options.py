"""``--method`` of ``demo``, ``fit`` and ``allocate``: a real Laplace fit at tiny scale, end to end.

A tiny Laplace fit takes seconds, so the approximation is run for real: every output (and the
report) says its results are approximate, a reloaded fit's approximation record is checked,
and the convergence gate judges it by its Pareto k̂ (edited here, so the test does not depend
on the k̂ of one tiny fit).
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import xarray as xr
from clitools import run_cli
from fit_files import CONFIG, CONVERGENCE, edit_json_attr, rewrite_fit

from bayes_needs.core import idata as idata_io


def run_demo(capsys, out):
    return run_cli(capsys, "demo", "--scale", "tiny", "--method", "laplace", "--draws", "200",
                   "--no-progress", "--out", out)


#: An approximate fit's description: plain or nested Laplace, then its diagnostic.
DESCRIPTION = r"laplace \(approximate(, nested over \d+ hyperparameter points)?; PSIS k̂ = "


def test_demo_with_the_laplace_approximation_says_it_is_approximate(capsys, tmp_path):
    out = tmp_path / "demo"
    code, _, err = run_demo(capsys, out)
    assert code == 0, err
    assert (out / "allocations.csv").is_file()
    assert len(pd.read_csv(out / "allocations.csv")) == 8   # tiny: 8 LAs

    summary = (out / "summary.txt").read_text(encoding="utf-8")
    # The tiny data need the nested approximation (the plain one's k̂ is above the gate).
    assert re.search(DESCRIPTION, summary.split("method: ", 1)[1])
    assert "results are approximate" in summary
    assert "gate thresholds:  Pareto k̂ <= 0.7 (approximate fit)" in summary
    assert "max R-hat" not in summary

    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["config"]["sampling"]["method"] == "laplace"
    inference = run["inference"]
    assert inference["method"] == "laplace" and inference["approximate"] == 1
    assert math.isfinite(inference["pareto_k"]) and 0 < inference["importance_ess"] <= 400
    assert re.match(DESCRIPTION, inference["inference"])

    attrs = idata_io.posterior(idata_io.load(out / "fit.nc")).attrs
    assert attrs["bayes_needs_method"] == "laplace"
    assert attrs["bayes_needs_approximate"] == 1
    assert attrs["bayes_needs_inference"] == inference["inference"]
    record = json.loads(attrs[CONVERGENCE])
    assert record["pareto_k"] == inference["pareto_k"]
    with xr.open_dataset(out / "allocation.nc", engine="h5netcdf") as allocation:
        assert allocation.attrs["approximate"] == 1
        assert allocation.attrs["inference"] == inference["inference"]

    # Reloaded: the gate judges the approximation by its k̂ (here set above the threshold).
    def pareto_k(value):
        def change(entry):
            entry.update(pareto_k=value)
        return change

    def config_pareto_k(value):
        def change(config):
            config["run"]["pareto_k"] = value
        return change

    rewrite_fit(out / "fit.nc", edit_json_attr(CONVERGENCE, pareto_k(0.95)))
    rewrite_fit(out / "fit.nc", edit_json_attr(CONFIG, config_pareto_k(0.95)))
    code, _, err = run_cli(capsys, "allocate", out, "--out", tmp_path / "refused")
    assert code == 2 and "Traceback" not in err
    for fragment in ("Pareto k̂ 0.95 > 0.7", "--method nuts", "--allow-unconverged"):
        assert fragment in err, (fragment, err)
    code, _, err = run_cli(capsys, "allocate", out, "--out", tmp_path / "forced",
                           "--allow-unconverged")
    assert code == 0, err
    forced = (tmp_path / "forced" / "summary.txt").read_text(encoding="utf-8")
    assert "convergence gate: failed, allowed by --allow-unconverged" in forced
    code, _, err = run_cli(capsys, "report", tmp_path / "forced")
    assert code == 0, err
    page = (tmp_path / "forced" / "report.html").read_text(encoding="utf-8")
    approximate = page.split("The posterior is approximate: ", 1)[1]
    assert re.match(DESCRIPTION + "0.95", approximate)
    assert "thresholds: Pareto k̂ &lt;= 0.7 (approximate fit)" in page

    # A record the stored config does not back (an edited or damaged file) is refused.
    rewrite_fit(out / "fit.nc", edit_json_attr(CONVERGENCE, pareto_k(0.1)))
    code, _, err = run_cli(capsys, "allocate", out, "--out", tmp_path / "edited",
                           "--allow-unconverged")
    assert code == 2 and "approximation record stored with the fit is not consistent" in err
    assert "Pareto k̂: the record's 0.1, the stored config's 0.95" in err


def test_an_unknown_method_exits_2_naming_the_option(capsys, tmp_path):
    code, _, err = run_cli(capsys, "demo", "--scale", "tiny", "--method", "mcmc", "--out",
                           tmp_path / "o")
    assert code == 2 and "Traceback" not in err
    assert "--method mcmc" in err and "sampling.method" in err
    assert "'nuts'" in err and "'laplace'" in err
    assert not (tmp_path / "o").exists()
