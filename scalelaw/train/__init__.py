"""Training tiny language models that log the loss curves scalelaw fits.

Needs torch: install the ``train`` extra, ``pip install -e '.[train]'`` (it pins the CPU build,
torch==2.13.0). ``TrainConfig`` (``scalelaw.train.config``) imports without it; the other names
load their module on first use.
"""
from importlib import import_module

from .config import TrainConfig

_HOMES = {"linear_cross_entropy": "cce", "GPT": "model", "GPTConfig": "model", "EncDec": "model",
          "EncDecConfig": "model", "MarkovSource": "data", "TextCorpus": "data", "Translation": "data",
          "train": "trainer", "run_sweep": "sweep", "SWEEPS": "spec", "load_spec": "spec",
          "sweep_status": "sweep"}
__all__ = ["TrainConfig", *_HOMES]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'scalelaw.train' has no attribute '{name}'")
    try:
        module = import_module(f".{_HOMES[name]}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ImportError("scalelaw.train needs torch: pip install -e '.[train]' (pins torch==2.13.0, "
                          "the CPU build)") from exc
    return getattr(module, name)
