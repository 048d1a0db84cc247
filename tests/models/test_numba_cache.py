"""Every model's log density and gradient compile to a numba function that is cached on disk.

nutpie compiles the logp-and-gradient graph with pytensor's numba backend. pytensor caches
the compiled graph across processes only when every Op in it has a cache key; one Op without
(``digamma``, the gradient of ``gammaln``, had none) makes every fit recompile the whole graph,
about 6 s of the national benchmark's 15 s of compilation.
"""

from __future__ import annotations

import pymc as pm
import pytensor
import pytest
from person_world import make_world, person_data
from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.panel import generate_panel


def uncached_ops(model: pm.Model) -> list[str]:
    """The Ops of the model's compiled logp-and-gradient graph that have no numba cache key."""
    logp = model.logp()
    grads = pytensor.grad(logp, model.value_vars)
    fn = pytensor.function(model.value_vars, [logp, *grads], mode="NUMBA",
                           on_unused_input="ignore")
    fgraph = fn.maker.fgraph
    missing = []
    for node in fgraph.toposort():
        _, key = numba_funcify_and_cache_key(node.op, node=node)
        if key is None:
            missing.append(str(node.op))
    return missing


@pytest.mark.parametrize("services", [("cla",), ("cin", "cpp", "cla")])
def test_area_model_graph_is_cacheable(services):
    data = generate_area("tiny", random_seed=0, services=services).data
    assert uncached_ops(AreaDemandModel(data).build_model()) == []


def test_panel_model_graph_is_cacheable():
    panel = generate_panel(random_seed=7, n_years=6)[0]
    assert uncached_ops(PanelDemandModel(panel).build_model()) == []


@pytest.mark.parametrize("options", [{}, {"msoa_effects": False}])
def test_person_model_graph_is_cacheable(options):
    model = PersonDemandModel(person_data(make_world()), options).build_model()
    assert uncached_ops(model) == []
