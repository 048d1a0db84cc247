"""bayes_needs: Bayesian relative-needs funding formulae for children's services.

The main entry points are the data containers in :mod:`bayes_needs.data`, the synthetic
generator in :mod:`bayes_needs.synthetic`, the models in :mod:`bayes_needs.models` and the
allocation maths in :mod:`bayes_needs.allocation`.
"""

__version__ = "0.1.0"

from bayes_needs.data import AreaData, PersonData, SpendData, UnitCosts
from bayes_needs.errors import BayesNeedsError
from bayes_needs.geography import Geography

__all__ = ["AreaData", "BayesNeedsError", "Geography", "PersonData", "SpendData", "UnitCosts",
           "__version__"]
