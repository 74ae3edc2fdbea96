"""scalelaw: fit scaling laws and loss curves from training logs, with uncertainty."""
from . import schedules
from .compare import compare
from .errors import InputError
from .engine import FitResult, fit
from .io import load_runs
from .laws import Law, Param, available_laws, get_law
from .laws.annealing import ANNEALING, ANNEALING_SIZE
from .laws.multipower import MULTIPOWER
from .laws.power import POWER, ComputeOptimal, compute_optimal

__version__ = "0.2.0"
__all__ = ["InputError", "FitResult", "fit", "load_runs", "Law", "Param", "available_laws", "get_law",
           "POWER", "ComputeOptimal", "compute_optimal", "ANNEALING", "ANNEALING_SIZE", "MULTIPOWER",
           "compare", "schedules", "__version__"]
