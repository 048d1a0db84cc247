"""Argument types of ``cli/common.py``: the one comma- or space-separated name list."""

from __future__ import annotations

import argparse

import pytest
from clitools import run_cli

from bayes_needs.cli import build_parser
from bayes_needs.cli.common import NameList
from bayes_needs.core import dims


def name_parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prog")
    parser.add_argument("--names", action=NameList, **kwargs)
    return parser


@pytest.mark.parametrize("argv", [
    ["--names", "cin,cla"],
    ["--names", "cin", "cla"],
    ["--names", "cin cla"],
    ["--names", " cin , cla "],
    ["--names", "cin,", "cla"],
    ["--names", "cin", ",cla"],
    ["--names", "cin", ",", "cla"],
])
def test_names_comma_or_space_separated_blanks_trimmed(argv):
    assert name_parser().parse_args(argv).names == ("cin", "cla")


def test_names_keep_their_order_and_the_default_is_left_alone():
    assert name_parser().parse_args(["--names", "cla,referrals,cin"]).names == (
        "cla", "referrals", "cin")
    assert name_parser(default=None).parse_args([]).names is None


@pytest.mark.parametrize(("argv", "needles"), [
    (["--names", "cin,,cla"], ("empty item", "'cin,,cla'")),
    (["--names", "cin,"], ("empty item", "'cin,'")),
    (["--names", ",cin"], ("empty item",)),
    (["--names", ""], ("empty item",)),
    (["--names", " , "], ("empty item",)),
    (["--names", "cin", ",,", "cla"], ("empty item",)),
    (["--names", "cin,cla,cin"], ("'cin' given more than once",)),
])
def test_empty_items_and_repeats_are_usage_errors_naming_the_option(capsys, argv, needles):
    with pytest.raises(SystemExit) as stopped:
        name_parser().parse_args(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --names:" in err
    for needle in needles:
        assert needle in err, err


def test_no_names_at_all_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        name_parser().parse_args(["--names"])
    assert stopped.value.code == 2
    assert "--names" in capsys.readouterr().err


def test_known_names_refuse_others_listing_the_choices(capsys):
    parser = name_parser(known=dims.SERVICES)
    assert parser.parse_args(["--names", "cla,cin"]).names == ("cla", "cin")
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--names", "cin,foster_care"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --names: unknown 'foster_care'" in err
    assert str(list(dims.SERVICES)) in err


def test_only_one_or_more_arguments():
    with pytest.raises(ValueError, match="nargs"):
        name_parser(nargs=1)


def command_args(tmp_path, command: str) -> tuple[list[str], str, str]:
    """Arguments of ``command`` without its name list; the list's option and destination."""
    config = tmp_path / "run.toml"
    config.write_text("schema_version = 1\n")
    out = str(tmp_path / "out")
    return {
        "template": (["template", "--la", "E06000001", "--level", "lsoa", "--year", "2024",
                      "--data-dir", str(tmp_path), "--out", out], "--services", "services"),
        "data": (["data", "england", "--data-dir", str(tmp_path)], "--services", "services"),
        "data-covariates": (["data", "england", "--data-dir", str(tmp_path)], "--covariates",
                            "covariates"),
        "validate": (["validate", "sbc", "--n-sims", "1", "--out", out], "--services",
                     "services"),
        "backtest": (["backtest", "--config", str(config), "--origins", "2020:2021", "--out",
                      out], "--models", "models"),
    }[command]


COMMANDS = ["template", "data", "data-covariates", "validate", "backtest"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_name_list_option_takes_commas_or_spaces(tmp_path, command):
    args, option, dest = command_args(tmp_path, command)
    names = ["cin", "cla"]
    parser = build_parser(args[0])
    for given in (["cin,cla"], ["cin", "cla"], [" cin, cla"]):
        parsed = parser.parse_args([*args, option, *given])
        assert tuple(getattr(parsed, dest)) == tuple(names), (given, getattr(parsed, dest))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_name_list_option_refuses_an_empty_item_with_exit_2(capsys, tmp_path, command):
    args, option, _ = command_args(tmp_path, command)
    code, out, err = run_cli(capsys, *args, option, "cin,,cla")
    assert code == 2
    assert f"argument {option}: empty item in 'cin,,cla'" in err
    assert "Traceback" not in err and not out
    assert not (tmp_path / "out").exists()
