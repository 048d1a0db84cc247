"""``bayes-needs validate-return``: check LAs' data returns and write a machine-readable report.

Every file (template CSV or workbook, or a long returns CSV) is checked against the England
panel of the data directory by :func:`bayes_needs.data.return_validation.validate_returns`,
the same checks a panel fit runs on ``[data] lsoa_returns``. With an output directory, the
report is written as one set (:func:`bayes_needs.core.outputs.output_set`), whether or not the
returns are valid: ``return_report.json`` (the summary and every problem) and
``return_problems.csv`` (one row per problem: severity, kind, file, sheet, row, column,
message; with its sidecar).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bayes_needs.core.defaults import RETURN_TOTAL_MIN_DIFFERENCE, RETURN_TOTAL_TOLERANCE
from bayes_needs.core.outputs import output_set, with_sidecars, write_csv, write_text
from bayes_needs.data.panel import PanelData
from bayes_needs.data.return_validation import ReturnValidation, validate_returns
from bayes_needs.workflows.template import returns_panel

__all__ = ["OUTPUT_FILES", "PROBLEMS_CSV", "REPORT_JSON", "VALIDATION_SET",
           "validate_return_files"]

REPORT_JSON = "return_report.json"
PROBLEMS_CSV = "return_problems.csv"
OUTPUT_FILES = with_sidecars((REPORT_JSON, PROBLEMS_CSV))
#: The kind of output set the report forms.
VALIDATION_SET = "return_validation"


def validate_return_files(files: Sequence[str | Path], data_dir: str | Path, *,
                          out_dir: str | Path | None = None,
                          tolerance: float = RETURN_TOTAL_TOLERANCE,
                          panel: PanelData | None = None) -> ReturnValidation:
    """Validate return files and write the report into ``out_dir`` (if given).

    Parameters
    ----------
    files
        The returns.
    data_dir
        The real data directory (ignored when ``panel`` is given).
    out_dir
        Where to write :data:`OUTPUT_FILES`; nothing is written when ``None``.
    tolerance
        Relative tolerance of each service's sum against the published LA total.
    panel
        The panel, if already loaded.

    Returns
    -------
    ReturnValidation
        The outcome; call its ``raise_errors`` to stop on errors.
    """
    panel = returns_panel(data_dir) if panel is None else panel
    result = validate_returns(files, panel, tolerance=tolerance,
                              min_difference=RETURN_TOTAL_MIN_DIFFERENCE)
    if out_dir is not None:
        with output_set(out_dir, VALIDATION_SET) as outputs:
            write_text(outputs.staging / REPORT_JSON,
                       json.dumps(result.summary(), indent=1, default=str) + "\n")
            write_csv(outputs.staging / PROBLEMS_CSV, result.table(),
                      comment="problems found in data returns, one per row",
                      metadata={"files": list(result.files), "valid": not result.errors})
    return result
