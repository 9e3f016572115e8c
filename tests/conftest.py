"""Settings every test session shares."""

import os

# The suite tests the reference model, the simulator's Python sources (some tests patch its
# classes, which a compiled class forbids); tests/sim/test_compiled.py runs the compiled core
# beside it and requires identical results. Before any tcpq import: it decides which core loads.
os.environ.setdefault("TCPQ_PURE", "1")

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never read or write the user's ~/.cache/tcpq.

    `tcpq compare` measures the host once per boot (`tcpq lab calibrate`) and keeps it there.
    Taken under the suite's own load, that calibration was slower than the quiet machine's
    (syn_cost 3.5 µs against 2.3 µs, median wake-up 0.54 ms against 0.32 ms) and every later
    `tcpq compare` of the user used it; taken from the user's cache, a test would depend on
    a file it did not make. So a session measures its own, in a directory of its own.
    """
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache
