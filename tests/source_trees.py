"""The repository's modules as syntax trees, for the tests that read the code (dependency and SQL rules)."""

from __future__ import annotations

import ast
import gc
from pathlib import Path


def parse_module(path: Path) -> ast.Module:
    """``path`` parsed with the garbage collector held off: CPython 3.11 can raise a spurious ``SystemError:
    AST constructor recursion depth mismatch`` when a collection runs finalizers while it builds the tree
    (python/cpython#106905). Seen once in a full run, while a worker's earlier server tests left pending
    tasks to be collected."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    finally:
        if enabled:
            gc.enable()
