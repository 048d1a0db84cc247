"""Tests for prior files: loading, validation, round trips and overrides."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import yaml
from pymc_extras.prior import Prior

from bayes_needs.config import priors as priors_mod
from bayes_needs.config.priors import (
    SCHEMA_VERSION,
    default_prior_config,
    load_priors,
    parse_priors,
    priors_to_config,
    read_config_file,
    resolve_priors,
)
from bayes_needs.core.errors import PriorConfigError

CONFIG = {
    "schema_version": 1,
    "meta": {"description": "test priors"},
    "priors": {
        "intercept": {"dist": "Normal", "kwargs": {"mu": -4.0, "sigma": 2.0},
                      "dims": ["service"]},
        "sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 0.5}, "dims": ["service"]},
        "beta": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": {
            "dist": "HalfNormal", "kwargs": {"sigma": 1.0}}},
            "dims": ["service", "covariate"], "centered": False},
        "alpha": {"dist": "Gamma", "kwargs": {"alpha": 2.0, "beta": [0.5, 1.0]}},
    },
}
NAMES = set(CONFIG["priors"])

TOML = """\
schema_version = 1

[priors.sigma_la]
dist = "HalfNormal"
kwargs = { sigma = 0.25 }
dims = ["service"]
"""


def test_parse_builds_priors():
    built = parse_priors(CONFIG, expected=NAMES)
    assert set(built) == NAMES
    assert all(isinstance(p, Prior) for p in built.values())
    assert built["sigma_la"].distribution == "HalfNormal"
    assert built["sigma_la"].parameters["sigma"] == 0.5
    assert built["beta"].dims == ("service", "covariate")
    assert built["beta"].centered is False
    assert isinstance(built["beta"].parameters["sigma"], Prior)
    assert list(built["alpha"].parameters["beta"]) == [0.5, 1.0]


def test_round_trip_via_config():
    built = parse_priors(CONFIG)
    config = priors_to_config(built)
    assert config["schema_version"] == SCHEMA_VERSION
    again = parse_priors(config)
    assert {k: v.to_dict() for k, v in again.items()} == \
        {k: v.to_dict() for k, v in built.items()}


def test_round_trip_via_yaml_file(tmp_path):
    built = parse_priors(CONFIG)
    path = tmp_path / "priors.yaml"
    path.write_text(yaml.safe_dump(priors_to_config(built)), encoding="utf-8")
    again = load_priors(path, expected=NAMES)
    assert {k: v.to_dict() for k, v in again.items()} == \
        {k: v.to_dict() for k, v in built.items()}


def test_toml_and_bom_toml_load(tmp_path):
    plain = tmp_path / "plain.toml"
    plain.write_text(TOML, encoding="utf-8")
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + TOML.encode("utf-8"))
    for path in (plain, bom):
        loaded = load_priors(path)
        assert loaded["sigma_la"].parameters["sigma"] == 0.25


def test_every_problem_reported_at_once():
    bad = {"schema_version": 2, "priors": {
        "a": {"dist": "NoSuchDist"},
        "b": {"dist": "Normal", "kwargs": {"mu": "zero"}},
        "c": {"dist": "Normal", "dims": ["ward"]},
    }}
    with pytest.raises(PriorConfigError) as info:
        parse_priors(bad, source="my_priors.toml")
    assert len(info.value.problems) == 4
    message = str(info.value)
    assert message.startswith("my_priors.toml")
    for culprit in ("schema_version", "NoSuchDist", "priors.b.kwargs.mu", "ward"):
        assert culprit in message


def test_yaml_does_not_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f'schema_version: 1\npriors: !!python/object/apply:os.system '
                    f'["touch {marker}"]\n', encoding="utf-8")
    with pytest.raises(PriorConfigError, match="unsafe YAML"):
        load_priors(path)
    assert not marker.exists()


def test_read_config_file_yaml_and_meta(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("schema_version: 1\nmeta: {date: 2024-01-01}\npriors: {}\n",
                    encoding="utf-8")
    assert read_config_file(path)["schema_version"] == 1
    assert load_priors(path) == {}


def test_default_prior_config_is_a_mapping():
    config = default_prior_config("area")
    assert isinstance(config, Mapping) and "schema_version" in config


@pytest.fixture
def defaults_file(tmp_path, monkeypatch):
    """Point the packaged-defaults lookup at a small file of our own."""
    path = tmp_path / "defaults.toml"
    path.write_text(TOML + """
[priors.intercept]
dist = "Normal"
kwargs = { mu = -3.0, sigma = 1.0 }
dims = ["service"]
""", encoding="utf-8")
    monkeypatch.setattr(priors_mod, "default_priors_path", lambda name: path)
    return path


EXPECTED = ("sigma_la", "intercept", "beta")


def test_resolve_without_overrides(defaults_file):
    resolved = resolve_priors("area", None, EXPECTED)
    assert set(resolved) == {"sigma_la", "intercept"}
    assert resolved["intercept"].parameters["mu"] == -3.0


def test_resolve_with_plain_mapping(defaults_file):
    resolved = resolve_priors("area", {
        "sigma_la": Prior("HalfNormal", sigma=2.0, dims="service"),
        "beta": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 1}, "dims": ["covariate"]},
    }, EXPECTED)
    assert resolved["sigma_la"].parameters["sigma"] == 2.0
    assert resolved["beta"].dims == ("covariate",)
    assert resolved["intercept"].parameters["mu"] == -3.0  # untouched default


def test_resolve_with_config_and_file(defaults_file, tmp_path):
    config = {"schema_version": 1,
              "priors": {"intercept": {"dist": "Normal", "kwargs": {"mu": 1.0, "sigma": 1.0}}}}
    assert resolve_priors("area", config, EXPECTED)["intercept"].parameters["mu"] == 1.0
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    resolved = resolve_priors("area", path, EXPECTED)
    assert resolved["intercept"].parameters["mu"] == 1.0
    assert resolved["sigma_la"].parameters["sigma"] == 0.25


def test_resolve_rejects_unknown_names(defaults_file):
    with pytest.raises(PriorConfigError, match="sigma_msoa"):
        resolve_priors("area", {"sigma_msoa": Prior("HalfNormal", sigma=1.0)}, EXPECTED)
    with pytest.raises(PriorConfigError, match="schema_version"):
        resolve_priors("area", {"priors": {}}, EXPECTED)
    with pytest.raises(PriorConfigError, match="list"):
        resolve_priors("area", ["sigma_la"], EXPECTED)


@pytest.mark.parametrize("dist, kwargs", [
    ("LKJCorr", {"eta": 2.0}),                       # factory class, not a Distribution
    ("ZeroInflatedPoisson", {"psi": 0.9, "mu": 2.0}),
    ("NegativeBinomial", {"mu": 3.0, "alpha": 2.0}),
])
def test_factory_distributions_accepted(dist, kwargs):
    built = parse_priors({"schema_version": 1, "priors": {"x": {"dist": dist, "kwargs": kwargs}}})
    assert built["x"].distribution == dist


@pytest.mark.parametrize("dist", ["Model", "Distribution", "CustomDist", "Mixture", "sample",
                                  "math"])
def test_non_distributions_rejected(dist):
    with pytest.raises(PriorConfigError, match=f"unknown distribution '{dist}'"):
        parse_priors({"schema_version": 1, "priors": {"x": {"dist": dist}}})


def test_non_centered_needs_supported_distribution():
    with pytest.raises(PriorConfigError, match=r"priors\.x"):
        parse_priors({"schema_version": 1, "priors": {
            "x": {"dist": "Gamma", "kwargs": {"alpha": 1.0, "beta": 1.0}, "centered": False}}})
