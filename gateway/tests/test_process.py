"""The gateway process's own set-up (`python -m gateway`), checked in a fresh interpreter: it changes global state."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.__main__ import YOUNG_GENERATION_THRESHOLD

pytestmark = pytest.mark.integration  # a fresh interpreter: a process

PROBE = """
import gc, json
before = gc.get_threshold()
from gateway.__main__ import tune_gc
tune_gc()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_gc_keeps_short_lived_objects_young_and_freezes_the_start_up_heap() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(out.stdout)
    assert found["after"] == [YOUNG_GENERATION_THRESHOLD, *found["before"][1:]]
    assert found["after"][0] > found["before"][0]
    assert found["frozen"] > 10_000  # the imported modules and the schema types are no longer scanned
