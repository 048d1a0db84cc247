"""A sensitivity study from Python: how far LA shares move under other defensible choices.

    python examples/sensitivity_study.py --out runs/sensitivity [--workers 2]

The scenarios are the same mapping a scenario file holds (``examples/scenarios.toml``): a
base run and variations merged into it section by section, each keeping the base's seeds.
"""

from __future__ import annotations

import argparse

from bayes_needs import sensitivity
from bayes_needs.config.scenarios import parse_scenarios

SCENARIOS = {
    "schema_version": 1,
    "description": "Tiny synthetic England: likelihood family and need standardisation",
    "base": {"data": {"source": "synthetic", "scale": "tiny", "data_seed": 0},
             "sampling": {"draws": 1000, "tune": 1000, "chains": 2,
                          "random_seed": 20240331},
             "need": {"random_seed": 1},
             "allocation": {"interval_prob": 0.9, "interval_kind": "eti"}},
    "variations": {
        "poisson": {"description": "Poisson LSOA split (no overdispersion)",
                    "model": {"family": "poisson"}},
        # Need settings only: shares the base's fit, no second sampling.
        "actual_demand": {"description": "LA effects kept (no standardisation)",
                          "need": {"standardise": "none"}},
    },
}


def main() -> None:
    """Run the scenarios, compare each with the base and write the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/sensitivity", help="output directory")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes running scenarios side by side (1: this process)")
    args = parser.parse_args()

    scenarios = parse_scenarios(SCENARIOS, source="sensitivity_study.py")
    results = sensitivity.run(scenarios, workers=args.workers, progress=True)
    comparison = sensitivity.compare(results)
    print(comparison.summary.to_string(index=False))
    for path in sensitivity.write_outputs(results, comparison, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":      # needed: worker processes re-import this script
    main()
