"""The test tools are pinned exactly (issue 12): a new ruff, mypy, pytest or hypothesis release
cannot turn CI red with no change in the tree, and the venv runs the versions the pins name."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[0-9][0-9A-Za-z.+!-]*)$")
# The linters and the runners: what decides whether CI is green.
MUST_BE_PINNED = {"ruff", "mypy", "pytest", "hypothesis"}


def extra_requirements() -> list[str]:
    """The requirements of `pip install -e '.[test]'`, as pyproject.toml lists them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements: list[str] = project["optional-dependencies"]["test"]
    return requirements


def pins() -> dict[str, str]:
    """Name → pinned version of every `name==version` of the test extra."""
    found = {}
    for requirement in extra_requirements():
        match = PIN.match(requirement)
        if match:
            found[match["name"].lower()] = match["version"]
    return found


def test_every_test_tool_is_pinned_exactly() -> None:
    assert [requirement for requirement in extra_requirements() if not PIN.match(requirement)] == []
    assert set(pins()) >= MUST_BE_PINNED


def test_the_venv_has_the_pinned_versions() -> None:
    # a pin nobody installed is a pin CI never tried
    assert {name: metadata.version(name) for name in pins()} == pins()


def test_the_build_compiles_with_the_mypy_the_tests_check_with() -> None:
    """setup.py compiles the simulator core with mypyc, which comes with mypy: the build
    requirement is the test extra's exact mypy, the version CI type-checks the sources with."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    build = [req for req in pyproject["build-system"]["requires"] if req.startswith("mypy")]
    test = [req for req in pyproject["project"]["optional-dependencies"]["test"] if req.startswith("mypy")]
    assert build == test and build[0].startswith("mypy==")
