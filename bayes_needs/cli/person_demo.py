"""The person-based branch of ``bayes-needs demo --approach person|both``."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def run_person_demo(config, synthetic, out: Path, *, data_seed: int, start: float) -> None:
    """Synthetic child records -> collapse -> person model -> need -> allocation -> files.

    Parameters
    ----------
    config
        The demo's :class:`~bayes_needs.config.run.RunConfig` (sampling, need, allocation).
    synthetic
        The synthetic area truth the records are drawn from.
    out
        Output directory.
    data_seed
        Seed of the synthetic data (the records use ``data_seed + 1``).
    start
        ``time.perf_counter()`` at the start of the demo (for the wall time).
    """
    from bayes_needs.workflows import pipeline
    from bayes_needs.workflows.person_pipeline import (
        person_extra,
        synthetic_person_data,
        write_person_outputs,
    )

    t0 = time.perf_counter()
    data, _ = synthetic_person_data(synthetic, data_seed=data_seed)
    lines = person_extra(data)
    print(f"  person records collapsed in {time.perf_counter() - t0:.1f} s: "
          f"{lines['child records']} children -> {lines['distinct cells']}; "
          f"{lines['record coverage']}", file=sys.stderr)
    print("  fitting the person demand model ...", file=sys.stderr)
    from bayes_needs.workflows.person_pipeline import fit_person

    fit = fit_person(config, data, {"synthetic": synthetic})
    need, allocation = pipeline.need_and_allocation(fit)
    truth_share = synthetic.truth["needs_share"].to_series()
    summary = allocation.summary()
    true = truth_share.loc[summary["la_code"]].to_numpy()
    inside = ((summary["share_lower"].to_numpy() <= true)
              & (true <= summary["share_upper"].to_numpy())).mean()
    extra = {"true needs share inside interval": f"{inside:.1%} of LAs",
             "total wall time": f"{time.perf_counter() - start:.1f} s"}
    write_person_outputs(fit, need, allocation, out, extra=extra)
    print((out / pipeline.SUMMARY_FILE).read_text(), file=sys.stderr)
    print(f"wrote {', '.join(pipeline.OUTPUT_FILES)}, coverage.csv to {out}")
