"""No unsafe deserialisation anywhere in the package: user files are read as TOML, safe YAML,
CSV or netCDF only — never pickle, never unsafe YAML, never ``eval``/``exec``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

PACKAGE = Path(__file__).resolve().parents[2] / "bayes_needs"

#: (pattern, why it is unsafe). Patterns match code, so comments and docstrings that merely
#: mention a word are not flagged (lines are stripped of ``#`` comments first).
FORBIDDEN = [
    (r"\bimport\s+(c?pickle|dill|cloudpickle|shelve|marshal|joblib)\b", "pickle-like module"),
    (r"\bfrom\s+(c?pickle|dill|cloudpickle|shelve|marshal|joblib)\b", "pickle-like module"),
    (r"\bpickle\.loads?\(", "unpickling"),
    (r"\b(read_pickle|to_pickle)\(", "pandas pickle"),
    (r"allow_pickle\s*=\s*True", "numpy pickle"),
    (r"\btorch\.load\(", "torch pickle"),
    (r"\byaml\.(unsafe_load|full_load|load_all|unsafe_load_all)\(", "unsafe YAML"),
    (r"\byaml\.(Unsafe|Full)?Loader\b", "unsafe YAML loader"),
    (r"(?<![\w.])eval\(", "eval"),
    (r"(?<![\w.])exec\(", "exec"),
    (r"\bcompile\([^)]*['\"]exec['\"]", "compile to exec"),
]
#: ``yaml.load`` is only allowed with these loaders (all SafeLoader subclasses, checked below).
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "_SafeConfigLoader"}


def code_lines(path: Path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        code = line.split("#", 1)[0]
        if code.strip():
            yield number, code


def sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20, "package sources not found"
    return files


def test_no_unsafe_deserialisation_calls():
    problems = []
    for path in sources():
        for number, code in code_lines(path):
            for pattern, why in FORBIDDEN:
                if re.search(pattern, code):
                    problems.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {why}: "
                                    f"{code.strip()}")
    assert not problems, "\n".join(problems)


def test_yaml_load_only_with_safe_loaders():
    calls = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\byaml\.load\((?P<args>[^)]*)\)", text):
            loader = re.search(r"Loader\s*=\s*(?:yaml\.)?(\w+)", match.group("args"))
            calls.append((path.name, loader.group(1) if loader else None))
    assert calls, "expected the config reader to call yaml.load with a safe loader"
    unsafe = [c for c in calls if c[1] not in SAFE_LOADERS]
    assert not unsafe, unsafe


def test_custom_loader_is_a_safe_loader():
    from bayes_needs.config.files import _SafeConfigLoader

    assert issubclass(_SafeConfigLoader, yaml.SafeLoader)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['exit 3']",
                                 "!!python/object/new:os.system ['exit 3']",
                                 "!!python/name:os.system", "!!python/module:os"])
def test_config_reader_refuses_python_tags(tmp_path, tag):
    from bayes_needs.config.files import read_config_file
    from bayes_needs.core.errors import ConfigFileError

    path = tmp_path / "evil.yaml"
    path.write_text(f"schema_version: 1\nvalue: {tag}\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match="unsafe YAML"):
        read_config_file(path)


def test_the_scanner_finds_what_it_forbids(tmp_path):
    """The patterns do match unsafe code (so a clean scan means something)."""
    snippets = ["import pickle", "data = pickle.load(fh)", "np.load(f, allow_pickle=True)",
                "yaml.load(text, Loader=yaml.Loader)", "yaml.unsafe_load(text)",
                "value = eval(expr)", "exec(code)", "frame = pd.read_pickle(path)",
                "import joblib"]
    for snippet in snippets:
        assert any(re.search(p, snippet) for p, _ in FORBIDDEN), snippet
    for harmless in ["frame.eval('a + b')", "self.evaluate(x)", "# import pickle"]:
        code = harmless.split("#", 1)[0]
        assert not any(re.search(p, code) for p, _ in FORBIDDEN), harmless
