"""Issue #17's tidy files, end to end: every CSV output reads with plain ``pandas.read_csv``,
its description and units live in a ``<name>.meta.json`` sidecar, money has one name and a
currency, the pot used is recorded, netCDF variables carry CF ``units`` and ``long_name``, and
``demand.csv`` gives the exposure and rates per 10,000 children. A mocked sampler stands in
for NUTS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from csv_meta import read_meta
from sampling_mocks import patched_sample

from bayes_needs.checks.gate import OVERRIDE_FLAG
from bayes_needs.cli import main
from bayes_needs.config.run import RunConfig
from bayes_needs.core import defaults
from bayes_needs.core import idata as idata_io
from bayes_needs.simulate.area import generate_area

SAMPLING = ["--draws", "20", "--tune", "1", "--no-progress"]
PANEL_CONFIG = """schema_version = 1
[data]
source = "synthetic_panel"
scale = "tiny"
data_seed = 3
[sampling]
draws = 10
tune = 1
chains = 2
progressbar = false
[need]
horizon = 1
[allocation]
cost_weights = {cin = 1.0, cla = 10.0}
pot = 2.5e8
currency = "EUR"
"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    """A demo of both approaches, an allocation from its area run, and a panel run.

    Made once for this module's tests, which only read the files.
    """
    root = tmp_path_factory.mktemp("tidy") / "outputs"
    config = root.parent / "panel.toml"
    config.write_text(PANEL_CONFIG, encoding="utf-8")
    commands = [
        ["demo", "--scale", "tiny", "--approach", "both", *SAMPLING, "--out", root / "demo",
         "--pot", "5e8", "--currency", "EUR"],
        ["allocate", root / "demo" / "area", "--out", root / "allocated", OVERRIDE_FLAG,
         "--interval-prob", "0.8"],
        ["fit", "--config", config, "--out", root / "panel", "--allocate", OVERRIDE_FLAG],
    ]
    with patched_sample():
        for command in commands:
            assert main([str(a) for a in command]) == 0, command  # its stderr is in the report
    return root


def test_every_csv_output_reads_without_options_and_has_a_sidecar(outputs):
    tables = sorted(outputs.rglob("*.csv"))
    names = {path.name for path in tables}
    assert {"allocations.csv", "demand.csv", "coverage.csv", "need_decomposition.csv",
            "need_gradient.csv"} <= names, names
    for path in tables:
        assert not path.read_text(encoding="utf-8").startswith("#"), path
        frame = pd.read_csv(path)
        assert len(frame) > 0 and frame.shape[1] > 1, path
        for column in frame.columns:
            assert not column.startswith(("#", "Unnamed")) and " " not in column, (path, column)
        meta = read_meta(path)
        assert meta["table"] == path.name
        assert [field["name"] for field in meta["fields"]] == list(frame.columns), path
        assert meta["comment"], path


def test_money_has_one_name_and_the_pot_used_is_recorded(outputs):
    for run, pot in ((outputs / "demo" / "area", 5e8), (outputs / "demo" / "person", 5e8),
                     (outputs / "allocated", 5e8), (outputs / "panel", 2.5e8)):
        stored = json.loads((run / "run.json").read_text(encoding="utf-8"))
        assert stored["config"]["allocation"]["pot"] == pot, run
        assert stored["config"]["allocation"]["currency"] == "EUR", run
        table = pd.read_csv(run / "allocations.csv")
        np.testing.assert_allclose(table["allocation_mean"].sum(), pot, rtol=1e-8)
        meta = read_meta(run / "allocations.csv")
        assert (meta["pot"], meta["currency"]) == (pot, "EUR")
        units = {field["name"]: field.get("units") for field in meta["fields"]}
        assert units["allocation_mean"] == units["allocation_upper"] == "EUR"
        assert f"pot: {pot:,.2f} EUR" in (run / "summary.txt").read_text(encoding="utf-8")
        saved = xr.load_dataset(run / "allocation.nc", engine="h5netcdf")
        assert "amount" not in saved and saved.attrs["currency"] == "EUR"
        assert saved["allocation"].attrs["units"] == "EUR"
        assert saved["allocation"].attrs["long_name"] == "allocation from the national pot"
        np.testing.assert_allclose(saved["allocation"], saved["share"] * pot)


def test_netcdf_variables_carry_cf_units_and_long_names(outputs):
    run = outputs / "demo" / "area"
    allocation = xr.load_dataset(run / "allocation.nc", engine="h5netcdf")
    for name in ("share", "allocation", "need", "weighted_need", "rank", "la", "la_name"):
        assert allocation[name].attrs.get("long_name"), name
    for name in ("share", "allocation", "need", "rank"):
        assert allocation[name].attrs.get("units"), name
    fit = idata_io.load(run / "fit.nc")
    assert fit.posterior["la"].attrs["long_name"] == "local authority code (ONS)"
    assert fit.posterior["service"].attrs["long_name"] == "children's service"


def test_demand_gives_exposure_and_rates_per_10k_children(outputs):
    data = generate_area("tiny", random_seed=0).data
    geography = data.geography
    children = pd.Series(np.bincount(geography.lsoa_to_la, weights=data.exposure,
                                     minlength=geography.n_la), index=geography.la_codes)
    demand = pd.read_csv(outputs / "demo" / "area" / "demand.csv")
    np.testing.assert_allclose(demand["exposure"], children.loc[demand["la_code"]], rtol=1e-12)
    for count, rate in (("observed", "observed_rate_per_10k"),
                        ("needs_mean", "needs_rate_per_10k_mean"),
                        ("needs_lower", "needs_rate_per_10k_lower"),
                        ("needs_upper", "needs_rate_per_10k_upper"),
                        ("fitted_mean", "fitted_rate_per_10k_mean")):
        np.testing.assert_allclose(demand[rate], demand[count] / demand["exposure"] * 1e4,
                                   rtol=1e-9, equal_nan=True)
    units = {f["name"]: f.get("units") for f in read_meta(outputs / "demo" / "area" /
                                                           "demand.csv")["fields"]}
    assert units["needs_rate_per_10k_mean"] == "1e-4"
    panel = pd.read_csv(outputs / "panel" / "demand.csv")
    np.testing.assert_allclose(panel["forecast_rate_per_10k_mean"],
                               panel["forecast_mean"] / panel["exposure"] * 1e4, rtol=1e-9)
    assert (panel["exposure"] > 0).all()
    # A person run's observed and fitted counts cover only the children in the records: only
    # need, which covers the whole population, is given per 10,000 children.
    person = pd.read_csv(outputs / "demo" / "person" / "demand.csv")
    assert "needs_rate_per_10k_mean" in person and "observed_rate_per_10k" not in person


def test_the_default_pot_and_currency_are_recorded_as_settings():
    allocation = RunConfig().allocation
    assert (allocation.pot, allocation.currency) == (defaults.POT, defaults.CURRENCY)
    stored_before = RunConfig.model_validate({"allocation": {"pot": None}})
    assert stored_before.allocation.pot == defaults.POT
