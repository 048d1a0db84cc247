"""bayes_needs: Bayesian relative-needs funding formulae for children's services.

The main entry points are the data containers in :mod:`bayes_needs.data.containers`, the synthetic
generator in :mod:`bayes_needs.simulate.synthetic`, the models in :mod:`bayes_needs.models` and the
allocation maths in :mod:`bayes_needs.allocation`.
"""

from bayes_needs.core.errors import BayesNeedsError
from bayes_needs.core.version import __version__
from bayes_needs.data.containers import AreaData, PersonData, SpendData, UnitCosts
from bayes_needs.data.geography import Geography

__all__ = ["AreaData", "BayesNeedsError", "Geography", "PersonData", "SpendData", "UnitCosts",
           "__version__"]
