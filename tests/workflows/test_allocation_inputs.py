"""Baseline CSV files: read strictly, by content, with file lines counting comment lines."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from bayes_needs.config.run import AllocationSpec
from bayes_needs.core.errors import DataValidationError
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows.allocation_inputs import baseline_shares, read_baseline_csv


@pytest.fixture(scope="module")
def data():
    return generate_area("tiny", random_seed=3, services=("cin",)).data


def baseline_text(data, *, edit_row: int | None = None, edit: str = "") -> str:
    """``# comment`` lines, a header and one ``la_code,share`` row per LA (edited if asked)."""
    rows = [f"{code},{i + 1}" for i, code in enumerate(data.geography.la_codes)]
    if edit_row is not None:
        rows[edit_row] = edit.format(code=data.geography.la_codes[edit_row])
    return "# baseline shares\n# written by hand\nla_code,share\n" + "\n".join(rows) + "\n"


def test_a_gzipped_baseline_with_comments_is_read_by_content(tmp_path, data):
    path = tmp_path / "baseline.csv"  # gzip content, whatever the name says
    path.write_bytes(gzip.compress(baseline_text(data, edit_row=0, edit='"{code}",1').encode()))
    shares = baseline_shares(AllocationSpec(baseline=str(path)), data)
    n = len(data.geography.la_codes)
    assert shares.to_numpy() == pytest.approx([(i + 1) / (n * (n + 1) / 2) for i in range(n)])


def test_a_bad_share_is_named_by_its_file_line(tmp_path, data):
    path = tmp_path / "baseline.csv"
    path.write_text(baseline_text(data, edit_row=2, edit="{code},lots"), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        baseline_shares(AllocationSpec(baseline=str(path)), data)
    # Two comment lines and the header come first: the third LA is on line 6.
    assert "line 6, column 'share': 'lots'" in str(info.value)


def test_a_thousands_separator_is_refused_not_misread(tmp_path, data):
    path = tmp_path / "baseline.csv"
    path.write_text(baseline_text(data, edit_row=0, edit="{code},1,951"), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        baseline_shares(AllocationSpec(baseline=str(path)), data)
    assert str(path) in str(info.value)
    assert "line 4: 3 field(s) where the header (line 3) has 2" in str(info.value)


def test_an_earlier_runs_allocations_csv_is_a_baseline(tmp_path, data):
    codes = list(data.geography.la_codes)
    lines = ["# interval: 90% equal-tailed (eti) over 60 posterior draws",
             "la_code,la_name,share_mean,share_lower,allocation_mean"]
    lines += [f"{code},Name {i},{(i + 1) / 10},0.0,{(i + 1) * 1e8}"
              for i, code in enumerate(reversed(codes))]
    path = tmp_path / "allocations.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shares = read_baseline_csv(path, codes, setting="--baseline")
    expected = np.arange(len(codes), 0, -1) / sum(range(1, len(codes) + 1))
    assert list(shares.index) == codes
    np.testing.assert_allclose(shares.to_numpy(), expected)


@pytest.mark.parametrize(("text", "message"), [
    ("la_code,value\n{code0},1\n", "needs column 'la_code' and one of ['share', 'share_mean'"),
    ("la_code,share\n{code0},-1\n", "line 2, column 'share': '-1' is not a finite number"),
    ("la_code,share\n{code0},1\n{code0},2\n", "appear more than once, at line(s) [2, 3]"),
    ("la_code,share\n{code0},1\nE99999999,1\n", "column 'la_code': LA(s) ['E99999999'] are "
                                                "not in the data (line(s) [3])"),
    ("la_code,share\n{code0},1\n", "column 'la_code': no row for LA(s)"),
])
def test_baseline_errors_name_the_file_line_and_column(tmp_path, data, text, message):
    codes = list(data.geography.la_codes)
    path = tmp_path / "old.csv"
    path.write_text(text.format(code0=codes[0]), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        read_baseline_csv(path, codes, setting="--baseline")
    assert str(path) in str(info.value) and message in str(info.value)
