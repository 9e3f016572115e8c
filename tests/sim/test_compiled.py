"""The compiled simulator core (setup.py, mypyc) against the reference model, its sources:
byte-identical RunResult JSON on every example and on hypothesis-generated scenarios.

Each core runs in a process of its own (tests/sim/core_worker.py), the reference with
TCPQ_PURE=1, the compiled one without it. Where the compiled core was not built the tests skip,
unless TCPQ_REQUIRE_COMPILED=1 (CI sets it: there the core must be built and must agree).
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from .test_properties import scenarios

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("core_worker.py")
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


class Core:
    def __init__(self, pure: bool) -> None:
        env = {key: value for key, value in os.environ.items() if key != "TCPQ_PURE"}
        if pure:
            env["TCPQ_PURE"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.compiled = bool(json.loads(self._line())["compiled"])

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator worker exited ({self.process.wait(timeout=10)})")
        return line

    def run(self, request: dict[str, Any]) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._line()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def cores() -> Iterator[tuple[Core, Core]]:
    reference, compiled = Core(pure=True), Core(pure=False)
    try:
        assert not reference.compiled, "TCPQ_PURE=1 must run the sources"
        if not compiled.compiled:
            if os.environ.get("TCPQ_REQUIRE_COMPILED"):
                pytest.fail("TCPQ_REQUIRE_COMPILED is set but the compiled core is not built")
            pytest.skip("the compiled simulator core is not built here (pip install -e . builds it)")
        yield reference, compiled
    finally:
        reference.stop()
        compiled.stop()


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_example_gives_identical_json(cores: tuple[Core, Core], example: Path) -> None:
    reference, compiled = cores
    for draw_seed in (None, 3):  # the seeded run and one of compare's redraws
        request = {"file": str(example), "draw_seed": draw_seed}
        assert compiled.run(request) == reference.run(request)


SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # the fixture is module-wide


@settings(max_examples=120, deadline=None, suppress_health_check=SLOW_OK)
@given(data=scenarios())
def test_random_scenarios_give_identical_json(cores: tuple[Core, Core], data: dict[str, Any]) -> None:
    reference, compiled = cores
    request = {"scenario": data}
    assert compiled.run(request) == reference.run(request)
