"""gradcheck: verify backpropagation against central differences."""
from __future__ import annotations

from gradcheck.estimate import NumericGradient
from gradcheck.numeric import default_step, numerical_gradient

__all__ = ["NumericGradient", "default_step", "numerical_gradient"]
__version__ = "0.1.0"
