"""Forces the worst start-up interleaving of key loading, for tests/test_first_run.py. Put on PYTHONPATH, it runs
at start-up of every process of the stack; without KEY_LOAD_BARRIER_DIR it does nothing.

With it, when `common.tokens` is imported:
- every process's first key load (`load_verifier` / `load_issuer`) waits until KEY_LOAD_PARTIES processes have
  reached theirs, so they all load keys at the same moment, as on a first `make dev` where they race;
- key generation (`generate_key_pair`) is delayed by the caller's arrival order (0.4 s per earlier caller), so
  processes that each generate a pair write one after another, never in the same instant by luck.
Code where processes make their own keys then reliably ends with processes holding different keys; code where keys
are made once before any service starts is unaffected (it generates once, and everyone reads the same files).
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

BARRIER_DIR = os.environ.get("KEY_LOAD_BARRIER_DIR")
PARTIES = int(os.environ.get("KEY_LOAD_PARTIES", "0"))
BARRIER_TIMEOUT = 60.0
GENERATION_STEP = 0.4


def _arrive(kind: str) -> int:
    """Register this process under `kind`; return how many had arrived before it."""
    folder = Path(BARRIER_DIR or "") / kind
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{time.monotonic_ns()}-{os.getpid()}").touch()
    mine = next(p for p in sorted(folder.iterdir()) if p.name.endswith(f"-{os.getpid()}"))
    return sorted(folder.iterdir()).index(mine)


def _wait_for_everyone() -> None:
    _arrive("loads")
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while len(list((Path(BARRIER_DIR or "") / "loads").iterdir())) < PARTIES and time.monotonic() < deadline:
        time.sleep(0.001)


def _instrument(module: ModuleType) -> None:
    waited = [False]

    def at_barrier(function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not waited[0]:
                waited[0] = True
                _wait_for_everyone()
            return function(*args, **kwargs)

        return wrapper

    def in_arrival_order(function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            time.sleep(GENERATION_STEP * (1 + _arrive("generations")))
            return function(*args, **kwargs)

        return wrapper

    module.load_verifier = at_barrier(module.load_verifier)  # type: ignore[attr-defined]
    module.load_issuer = at_barrier(module.load_issuer)  # type: ignore[attr-defined]
    module.generate_key_pair = in_arrival_order(module.generate_key_pair)  # type: ignore[attr-defined]


class _AfterImport(importlib.abc.MetaPathFinder):
    """Instruments `common.tokens` right after it executes, before anyone imports names from it."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "common.tokens":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            _instrument(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if BARRIER_DIR and PARTIES:
    sys.meta_path.insert(0, _AfterImport())
