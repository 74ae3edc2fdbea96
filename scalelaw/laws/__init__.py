"""Law families. A law is a plain formula plus its parameter specification; it knows nothing
about optimisers, files or plots (those live in ``scalelaw.engine``, ``scalelaw.io``, ``scalelaw.plot``).
Each law module declares one family and registers it; ``base`` holds what a law is, ``design``
how data become the inputs of each kind of law (sizes, curves, schedule), and ``summary`` the
bins a long log is fitted on. Every module
of this package is imported here, so a new law is one new file (see CONTRIBUTING.md).
"""
import importlib
import pkgutil

from .base import (MODEL_SIZE, Budget, Column, Flag, Inputs, Law, Param, available_laws, declared_columns,
                   get_law, register)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in ("base", "design", "summary")):
    importlib.import_module(f"{__name__}.{_module}")  # registers the module's laws (design and summary,
    # which read data with pandas, load where data are read: listing the laws, as --help does, needs none)

__all__ = ["MODEL_SIZE", "Budget", "Column", "Flag", "Inputs", "Law", "Param", "available_laws",
           "declared_columns", "get_law", "register"]
