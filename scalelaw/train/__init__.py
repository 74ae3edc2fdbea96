"""Training tiny language models that log the loss curves scalelaw fits (needs torch: install
the ``train`` extra, ``pip install -e '.[train]'``, which pins the CPU build torch==2.13.0)."""
try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("scalelaw.train needs torch: pip install -e '.[train]' (pins torch==2.13.0, "
                      "the CPU build)") from exc

from .cce import linear_cross_entropy

__all__ = ["linear_cross_entropy"]
