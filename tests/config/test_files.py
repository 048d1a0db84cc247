"""The one configuration-file reader: limits, aliases, value types and schema versions.

Unit cases pin each limit and refusal; the property-based cases feed random YAML and TOML
(nesting, aliases, scalars of every type, tags, invalid UTF-8) to the reader and to every
config kind built on it, and allow only two outcomes: success or a clean
:class:`~bayes_needs.core.errors.BayesNeedsError`.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_needs.config.files import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES, read_config_file
from bayes_needs.config.priors import load_priors
from bayes_needs.config.run import load_run_config, parse_run_config
from bayes_needs.config.scenarios import load_scenarios, parse_scenarios
from bayes_needs.core.errors import BayesNeedsError, ConfigFileError, PriorConfigError
from bayes_needs.data.unit_costs import load_unit_costs


def alias_bomb(levels: int, width: int = 9, parent: str = "model") -> str:
    """A YAML "billion laughs": ``width ** levels`` values from a few hundred bytes."""
    lines = ["schema_version: 1", f"{parent}:",
             "  l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]"
              for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def expanded_size(value, memo=None) -> int:
    """Values in ``value`` with shared parts counted every time (memoised, so it is cheap)."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    children = list(value.values()) if isinstance(value, dict) else \
        value if isinstance(value, list) else []
    memo[id(value)] = 0  # a recursive structure counts once
    size = 1 + sum(expanded_size(child, memo) for child in children)
    memo[id(value)] = size
    return size


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# ---------------------------------------------------------------------- limits and refusals
@pytest.mark.parametrize("load, error", [
    (load_run_config, ConfigFileError), (load_priors, PriorConfigError),
    (load_scenarios, ConfigFileError), (load_unit_costs, PriorConfigError),
    (read_config_file, ConfigFileError)])
def test_an_alias_bomb_is_refused_by_every_config_kind(tmp_path, load, error):
    path = write(tmp_path, "bomb.yaml", alias_bomb(9))
    assert path.stat().st_size < 1_000
    with pytest.raises(error, match="aliases are expanded") as info:
        load(path)
    assert info.value.source == str(path)
    assert "line " in str(info.value)


def test_aliases_within_the_limit_are_expanded_into_separate_objects(tmp_path):
    path = write(tmp_path, "shared.yaml", "schema_version: 1\nbase: &b {dist: HalfNormal}\n"
                                          "other: *b\nwhen: 2024-03-31\n")
    data = read_config_file(path)
    assert data["base"] == data["other"] == {"dist": "HalfNormal"}
    assert data["base"] is not data["other"]  # editing one cannot change the other
    assert data["when"] == datetime.date(2024, 3, 31)  # TOML's value types are all kept
    toml = read_config_file(write(tmp_path, "meta.toml", "d = 2024-03-31\nt = 07:32:00\n"))
    assert toml == {"d": datetime.date(2024, 3, 31), "t": datetime.time(7, 32)}


def test_the_limit_sits_at_the_expanded_size(tmp_path):
    width = 10
    levels = int(math.log(MAX_VALUES / 2) / math.log(width))  # the largest chain under it
    data = read_config_file(write(tmp_path, "ok.yaml", alias_bomb(levels, width)))
    assert MAX_VALUES / 20 < expanded_size(data) <= MAX_VALUES
    with pytest.raises(ConfigFileError, match="aliases are expanded"):
        read_config_file(write(tmp_path, "over.yaml", alias_bomb(levels + 1, width)))


@pytest.mark.parametrize("name, text, needle", [
    ("recursive.yaml", "a: &a [1, *a]\n", "recursive alias"),
    ("deep.yaml", "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", "nested more"),
    ("deep.toml", "a = " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n", "nested more"),
    ("set.yaml", "a: !!set {x, y}\n", "type set"),
    ("binary.yaml", "a: !!binary aGVsbG8=\n", "type bytes"),
    ("pairs.yaml", "a: !!omap [x: 1]\n", "type tuple"),
    ("number_key.yaml", "1: one\n", "key 1 is not text"),
    ("boolean_key.yaml", "yes: 1\n", "key True is not text"),
    ("list_key.yaml", "? [a, b]\n: 1\n", "is not text"),
    ("merge_key.yaml", "b: &b {x: 1}\nc:\n  <<: *b\n", "merge keys"),
    ("bad_date.yaml", "a: 2024-13-45\n", "invalid YAML value"),
    ("bad_float.yaml", "a: !!float abc\n", "invalid YAML value"),
])
def test_unsupported_yaml_and_toml_give_clean_errors(tmp_path, name, text, needle):
    with pytest.raises(ConfigFileError, match=needle) as info:
        read_config_file(write(tmp_path, name, text))
    assert info.value.source.endswith(name)


def test_a_very_deep_file_is_refused_without_exhausting_the_stack(tmp_path):
    path = write(tmp_path, "deeper.yaml", "a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigFileError, match="nested more"):
        read_config_file(path)


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = write(tmp_path, "big.toml", "schema_version = 1\n" + "# padding\n" * (
        MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(ConfigFileError, match="larger than"):
        read_config_file(path)


# ---------------------------------------------------------------------- schema_version
@pytest.mark.parametrize("name, text", [
    ("run.toml", '[data]\nsource = "synthetic"\n'),
    ("run.yaml", "data:\n  source: synthetic\n")])
def test_a_run_config_without_schema_version_is_refused(tmp_path, name, text):
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigFileError, match="missing 'schema_version'") as info:
        load_run_config(path)
    assert info.value.source == str(path)
    assert "schema_version = 1" in str(info.value)


@pytest.mark.parametrize("load, body", [
    (load_priors, '[priors.sigma_la]\ndist = "HalfNormal"\n'),
    (load_scenarios, '[base.data]\nsource = "synthetic"\n[variations.p.model]\n'
                     'family = "poisson"\n')])
def test_prior_and_scenario_files_ask_for_schema_version_the_same_way(tmp_path, load, body):
    with pytest.raises(BayesNeedsError, match="add the line 'schema_version = 1'"):
        load(write(tmp_path, "file.toml", body))


# ---------------------------------------------------------------------- properties
KEYS = ["schema_version", "priors", "data", "model", "base", "variations", "dist", "kwargs",
        "dims", "sigma", "mu", "covariates", "services", "sampling", "draws", "config",
        "description", "meta", "activities", "x"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["service", "covariate", "la", "HalfNormal",
                                           "Normal", "synthetic", "1"]),
    st.dates(), st.datetimes())
KEY = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEY, inner, max_size=4)), max_leaves=25)
DOCUMENTS = st.dictionaries(KEY, VALUES, max_size=6)
#: Documents close to a run config, so the run-config checks are reached too.
RUN_LIKE = st.dictionaries(
    st.sampled_from(["schema_version", "description", "data", "model", "sampling", "need",
                     "priors"]),
    st.one_of(st.integers(0, 2), st.text(max_size=5), st.dictionaries(
        st.sampled_from(["covariates", "services", "draws", "family", "source"]), VALUES,
        max_size=2)),
    min_size=1, max_size=4)
#: YAML fragments the safe constructors cannot always convert.
TRICKY_YAML = st.sampled_from([
    "!!float abc", "!!int 0x", "2024-13-45", "!!timestamp 2024-02-30", "!!set {a, b}",
    "!!binary aGk=", "!!omap [a: 1]", "!!python/name:os.system", "{? [a]: 1}", "*undefined",
    "&a [*a]", "!!str", "~", ".nan", "-.inf", "0o17", "1_000", "!!null ''", "[a, {b: c}]"])
PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def toml_value(value) -> str | None:
    """``value`` as an inline TOML value (``None`` has no TOML form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        items = [toml_value(v) for v in value]
        return "[" + ", ".join(i for i in items if i is not None) + "]"
    if isinstance(value, dict):
        pairs = [(json.dumps(k), toml_value(v)) for k, v in value.items()]
        return "{" + ", ".join(f"{k} = {v}" for k, v in pairs if v is not None) + "}"
    return None


def to_toml(document: dict) -> str:
    lines = [f"{json.dumps(k)} = {text}" for k, v in document.items()
             if (text := toml_value(v)) is not None]
    return "\n".join(lines) + "\n"


def assert_clean(load, path: Path):
    """Loading ``path`` succeeds or raises a BayesNeedsError; a success is plain and small,
    and a file accepted as a run config, prior or scenario file declares its version."""
    try:
        result = load(path)
    except BayesNeedsError:
        return None
    if isinstance(result, dict):
        assert expanded_size(result) <= MAX_VALUES
        assert all(isinstance(k, str) for k in result)
    if load is not read_config_file:
        assert read_config_file(path).get("schema_version") == 1
    return result


#: Every config kind built on the reader.
CONSUMERS = (read_config_file, load_run_config, load_priors, load_scenarios, load_unit_costs)


@PROPERTY
@given(document=DOCUMENTS, fragment=TRICKY_YAML, where=KEY, garbage=st.binary(max_size=80),
       cut=st.integers(0, 3))
def test_random_yaml_loads_or_fails_cleanly(tmp_path_factory, document, fragment, where,
                                           garbage, cut):
    tmp = tmp_path_factory.mktemp("yaml")
    plain = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    tricky = plain + f"{json.dumps(where + '_x')}: {fragment}\n"
    for name, text in (("plain.yaml", plain), ("tricky.yaml", tricky),
                       ("garbage.yaml", garbage), ("garbage.toml", garbage)):
        path = write(tmp, name, text)
        for load in CONSUMERS:
            assert_clean(load, path)
    # The same file with one invalid UTF-8 sequence spliced in: named as such.
    encoded = plain.encode("utf-8")
    at = len(encoded) * cut // 3
    spliced = write(tmp, "spliced.yaml", encoded[:at] + b"\xc3\x28" + encoded[at:])
    with pytest.raises(ConfigFileError, match="not valid UTF-8"):
        read_config_file(spliced)


@PROPERTY
@given(document=st.one_of(DOCUMENTS, RUN_LIKE))
def test_random_toml_loads_or_fails_cleanly(tmp_path_factory, document):
    path = write(tmp_path_factory.mktemp("toml"), "random.toml", to_toml(document))
    for load in CONSUMERS:
        assert_clean(load, path)
    values = assert_clean(read_config_file, path)
    if values is not None:  # the parsers themselves, on what the reader accepted
        for parse in (parse_run_config, parse_scenarios):
            try:
                parse(values)
            except BayesNeedsError:
                pass


@PROPERTY
@given(levels=st.integers(1, 8), width=st.integers(1, 12),
       parent=st.sampled_from(["model", "priors", "base", "data"]))
def test_alias_chains_load_only_within_the_limit(tmp_path_factory, levels, width, parent):
    path = write(tmp_path_factory.mktemp("alias"), "alias.yaml",
                 alias_bomb(levels, width, parent))
    level = total = 1 + width  # l0: a list and its scalars
    for _ in range(1, levels):
        level = 1 + width * level
        total += level
    values = 5 + levels + total  # top mapping, schema_version pair, parent key and mapping
    assert (assert_clean(read_config_file, path) is not None) == (values <= MAX_VALUES)
    assert_clean(load_run_config, path)  # the run config merges its sections

