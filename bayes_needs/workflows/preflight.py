"""Checks that a run can be allocated from, made before anything is sampled.

A fit can take hours. An allocation input that is missing or invalid (a cost weight for one of
the services, a baseline file, a cost-weight file or a unit-cost table) is otherwise found
only when the fit is allocated from, after sampling, and the fit is lost with the run. The run
workflows (``fit``, ``fit --allocate``, ``demo``, ``sensitivity``) call
:func:`check_allocation_inputs` as soon as the config and the data are loaded; it reads and
validates every input exactly as the allocation will, and raises the same errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bayes_needs.config.run import RunConfig
from bayes_needs.data.area import AreaData
from bayes_needs.data.person.design import PersonModelData
from bayes_needs.workflows import allocation_inputs
from bayes_needs.workflows.pipeline import cost_weights_for


def check_allocation_inputs(config: RunConfig, data: AreaData | PersonModelData | None,
                            data_info: dict[str, Any], services: Sequence[str], *,
                            cost_weights: bool = True) -> None:
    """Read and validate every allocation input of ``config`` before the fit is sampled.

    Parameters
    ----------
    config
        The run config (its ``allocation`` section, and the need seed of unit-cost draws).
    data
        The data the model will be fitted to: its LAs (and LSOA populations) for the
        baseline; ``None`` for a panel run, which allocates without baseline or damping.
    data_info
        How the data were obtained (synthetic data bring their true unit costs).
    services
        The services the model will fit, each of which needs a cost weight.
    cost_weights
        Also check the cost weights; ``False`` for a fit that is not allocated now, since
        ``bayes-needs allocate --cost-weights`` can still supply them.

    Raises
    ------
    ConfigError, MissingDataError, DataValidationError
        As the allocation would raise them, naming the setting or file at fault.
    """
    spec = config.allocation
    if cost_weights:
        configured = None if data is None else allocation_inputs.configured_cost_weights(
            spec, services, random_seed=config.need.random_seed)
        if configured is None:
            cost_weights_for(config, data_info, tuple(services))
    if data is not None:
        allocation_inputs.baseline_shares(spec, data)
        allocation_inputs.configured_damping(spec)
