"""Baseline CSV files: read strictly, by content, with file lines counting comment lines."""

from __future__ import annotations

import gzip

import pytest

from bayes_needs.config.run import AllocationSpec
from bayes_needs.core.errors import DataValidationError
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows.allocation_inputs import baseline_shares


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
    assert "line 6: share 'lots'" in str(info.value)


def test_a_thousands_separator_is_refused_not_misread(tmp_path, data):
    path = tmp_path / "baseline.csv"
    path.write_text(baseline_text(data, edit_row=0, edit="{code},1,951"), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        baseline_shares(AllocationSpec(baseline=str(path)), data)
    assert str(path) in str(info.value)
    assert "line 4: 3 field(s) where the header (line 3) has 2" in str(info.value)
