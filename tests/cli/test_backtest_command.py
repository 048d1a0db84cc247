"""Tests of ``bayes-needs backtest`` (:mod:`bayes_needs.cli.backtest_cmd`)."""

from __future__ import annotations

import argparse

import pytest
from clitools import run_cli

from bayes_needs.cli.backtest_cmd import parse_origins
from bayes_needs.core.outputs import SET_FILES

CONFIG = 'schema_version = 1\n[data]\nsource = "england"\n'


@pytest.mark.parametrize("text, years", [
    ("2019:2024", [2019, 2020, 2021, 2022, 2023, 2024]),
    ("2020:2020", [2020]),
    (" 2019 : 2020 ", [2019, 2020]),
    ("2021,2019,2021", [2019, 2021]),
    ("2019", [2019]),
])
def test_parse_origins_accepts_ranges_and_lists(text, years):
    assert parse_origins(text) == years


@pytest.mark.parametrize("text", ["2019-2024", "2024:2019", "", "19:20", "2019:", "abc",
                                  "2019,,2020", "2019:2020:2021", "2019.5"])
def test_parse_origins_refuses_anything_else(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected A:B"):
        parse_origins(text)


@pytest.mark.parametrize("origins", ["2019-2024", "2024:2019", "twenty"])
def test_bad_origins_syntax_exits_2_with_a_clear_message(capsys, tmp_path, origins):
    config = tmp_path / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "backtest", "--config", config, "--origins", origins,
                                "--out", out)
    assert code == 2
    assert "--origins" in err and "expected A:B" in err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_unknown_model_exits_2_before_loading_data(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "backtest", "--config", config, "--origins", "2019:2020",
                           "--models", "persistence,arima", "--out", out)
    assert code == 2
    assert "models must be distinct names" in err and "arima" in err
    assert "loading data" not in err and "Traceback" not in err
    assert not out.exists()


SYNTHETIC_PANEL = """schema_version = 1
[data]
source = "synthetic_panel"
scale = "tiny"
data_seed = 3
[sampling]
draws = 40
chains = 2
random_seed = 123
"""


@pytest.fixture
def panel_config(tmp_path):
    path = tmp_path / "panel.toml"
    path.write_text(SYNTHETIC_PANEL, encoding="utf-8")
    return path


def test_origin_outside_the_data_exits_2_naming_it_and_the_range(capsys, tmp_path,
                                                                 panel_config):
    out = tmp_path / "out"
    # The synthetic panel has counts for 2015-2022: origins 2017-2021 can be scored.
    code, stdout, err = run_cli(capsys, "backtest", "--config", panel_config, "--origins",
                                "2016:2019", "--out", out)
    assert code == 2
    assert "origin(s) 2016" in err and "2017-2021" in err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()
    code, _, err = run_cli(capsys, "backtest", "--config", panel_config, "--origins",
                           "2019,2022", "--out", out)
    assert code == 2 and "origin(s) 2022" in err


def test_persistence_backtest_through_the_cli(capsys, tmp_path, panel_config):
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "backtest", "--config", panel_config, "--origins",
                                "2019:2021", "--models", "persistence", "--workers", "1",
                                "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["backtest.csv", "backtest.meta.json", "backtest_cases.csv", "backtest_cases.meta.json",
         "backtest.png", "summary.txt", *SET_FILES])
    for origin in (2019, 2020, 2021):
        assert f"origin {origin} persistence:" in err
    assert "persistence" in stdout and "wrote backtest.csv" in stdout
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    # The command is recorded with the seed the run config gave.
    assert "--origins 2019,2020,2021" in summary and "--seed 123" in summary
    assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
