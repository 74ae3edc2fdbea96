"""scalelaw: fit scaling laws and loss curves from training logs, with uncertainty.

The names below load their module on first use: ``scalelaw --help`` and commands that need
no fit do not pay for scipy, lmfit and the fitting modules.
"""
from importlib import import_module

__version__ = "0.3.0"

_HOMES = {"InputError": "errors", "FitResult": "result", "fit": "auto", "load_runs": "io", "Law": "laws",
          "Param": "laws", "available_laws": "laws", "get_law": "laws", "POWER": "laws.power",
          "ComputeOptimal": "analysis", "compute_optimal": "analysis", "ANNEALING": "laws.annealing",
          "ANNEALING_SIZE": "laws.annealing", "MULTIPOWER": "laws.multipower", "CHINCHILLA": "laws.bivariate",
          "ENCDEC": "laws.bivariate", "tokens_from_compute": "laws.bivariate", "compare": "analysis", "chain": "analysis",
          "versus_total": "analysis"}
__all__ = [*_HOMES, "schedules", "__version__"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    if not name.startswith("_"):  # a submodule: scalelaw.schedules, scalelaw.quality, ...
        try:
            return import_module(f".{name}", __name__)
        except ModuleNotFoundError:
            pass
    raise AttributeError(f"module 'scalelaw' has no attribute '{name}'")


def __dir__():
    return sorted(__all__)
