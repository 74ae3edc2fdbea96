"""scalelaw: fit scaling laws and loss curves from training logs, with uncertainty."""
from . import schedules
from .analysis import ComputeOptimal, compare, compute_optimal, versus_total
from .errors import InputError
from .result import FitResult
from .auto import fit
from .io import load_runs
from .laws import Law, Param, available_laws, get_law
from .laws.annealing import ANNEALING, ANNEALING_SIZE
from .laws.bivariate import CHINCHILLA, ENCDEC, tokens_from_compute
from .laws.multipower import MULTIPOWER
from .laws.power import POWER

__version__ = "0.3.0"
__all__ = ["InputError", "FitResult", "fit", "load_runs", "Law", "Param", "available_laws", "get_law",
           "POWER", "ComputeOptimal", "compute_optimal", "ANNEALING", "ANNEALING_SIZE", "MULTIPOWER",
           "CHINCHILLA", "ENCDEC", "tokens_from_compute", "compare", "versus_total", "schedules",
           "__version__"]
