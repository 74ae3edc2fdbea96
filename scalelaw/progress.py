"""Progress on long work: a tqdm bar on stderr where the user watches a terminal, nothing
otherwise (a pipe, a file, a test) or where tqdm is not installed (the ``progress`` extra)."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def bar(items: Iterable[T], desc: str, unit: str = "it", enabled: bool = True, total: int | None = None) -> Iterable[T]:
    """``items``, with a bar named ``desc`` when ``enabled`` and tqdm is installed; the bar is
    cleared when done (the report follows)."""
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit=unit, total=total, file=sys.stderr, leave=False)


def on_terminal() -> bool:
    """Whether stderr is a terminal: where the CLI shows progress."""
    return sys.stderr.isatty()
