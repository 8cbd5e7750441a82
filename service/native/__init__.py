"""Optional C implementations of hot pure functions of the scoring path.

Each module here (`service/native/<name>.c`, built by setup.py at install) does exactly what a
Python function elsewhere in `service/` does, faster; that Python function stays the reference
and the fallback. `load(name)` returns the compiled module, or None when it was not built (no C
compiler at install) or when REVIEWGUARD_NATIVE=0 turns all of them off (to compare, or to rule
them out). Tests hold every C function to its Python reference on the shared texts and on
generated inputs.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

ENABLED = os.environ.get("REVIEWGUARD_NATIVE", "1").strip().lower() not in ("0", "false", "no")


def load(name: str) -> ModuleType | None:
    """`service.native.<name>` if it is built and native code is enabled, else None."""
    if not ENABLED:
        return None
    try:
        return importlib.import_module(f"service.native.{name}")
    except ImportError:
        return None


def status() -> dict[str, bool]:
    """Each accelerator whose source ships here, and whether it runs (built and enabled)."""
    sources = sorted(path.stem for path in Path(__file__).parent.glob("*.c"))
    return {name: load(name) is not None for name in sources}
