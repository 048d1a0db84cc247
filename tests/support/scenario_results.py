"""Hand-made sensitivity results (what ``workflows.sensitivity.run_scenario`` returns), so the
comparison maths and its outputs are tested without fitting anything."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_needs.core import dims


def fake_result(share: np.ndarray, la_codes, **scalars) -> xr.Dataset:
    """One scenario's result with ``share`` draws (chain, draw, la) and fit figures."""
    ds = xr.Dataset({"share": ((dims.CHAIN, dims.DRAW, dims.LA), share)},
                    coords={dims.CHAIN: np.arange(share.shape[0]),
                            dims.DRAW: np.arange(share.shape[1]), dims.LA: la_codes,
                            dims.LA_NAME: (dims.LA, [f"name {c}" for c in la_codes])})
    values = {"rhat_max": 1.0, "ess_bulk_min": 1000.0, "ess_tail_min": 900.0,
              "divergences": 0.0, "bfmi_min": 1.0, "converged": True, "fit_seconds": 1.0}
    values.update(scalars)
    for key, value in values.items():
        ds[key] = value
    ds.attrs.update({"config": "{}", "gate_failures": "[]"})
    return ds


def shares(rng, centre, n_chain=2, n_draw=300, sd=0.002):
    """Share draws scattered around ``centre``, renormalised to sum to 1 per draw."""
    draws = np.asarray(centre)[None, None, :] + rng.normal(0, sd, (n_chain, n_draw,
                                                                   len(centre)))
    return draws / draws.sum(axis=-1, keepdims=True)
