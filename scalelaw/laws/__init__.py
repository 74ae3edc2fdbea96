"""Law families. A law is a plain formula plus its parameter specification; it knows nothing
about optimisers, files or plots (those live in ``scalelaw.engine``, ``scalelaw.io``, ``scalelaw.plot``).
Each law module declares one family and registers it; ``base`` holds what a law is.
"""
from .base import (MODEL_SIZE, Budget, Column, Flag, Inputs, Law, Param, available_laws, declared_columns,
                   get_law, register)
from . import annealing, bivariate, multipower, power  # noqa: F401  (register the laws)

__all__ = ["MODEL_SIZE", "Budget", "Column", "Flag", "Inputs", "Law", "Param", "available_laws",
           "declared_columns", "get_law", "register"]
