"""Names a package exports but imports on first use (PEP 562 module `__getattr__`).

Why: numpy (~16 MB resident), usearch (~15 MB) and friends are needed only once a database
searches text or vectors, yet a package's `__init__` that imports its modules eagerly charges
every process that merely opens a database for them (issue 16: idle RSS target 40 MB).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `exports[name]` (a module path) when `name`
    is first read, and caches the value in the package so later reads cost nothing."""

    def module_getattr(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return module_getattr
