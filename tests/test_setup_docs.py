"""The README's set-up commands, CI, and `sudo` in the docs (issue 8, item 8).

On a Debian Python `pip install` outside a venv is refused (externally managed), and `sudo`
resets PATH, so a venv's `tcpq` is not found under `sudo tcpq`. The README's two set-up
commands must create a venv and call its programs by path, CI must run the second one
verbatim (and its linters from the same venv), and no doc may say `sudo tcpq`.
"""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
MAIN_JOB = ["tcpq", "simulate", "examples/backlog-nobody-accepts.toml"]
# `sudo [options] tcpq`: the bare name, looked up on sudo's secure_path, not the venv's.
SUDO_BARE_TCPQ = re.compile(r"\bsudo\s+(?:-\S+\s+)*tcpq\b")


def setup_commands() -> list[str]:
    """The lines of the README's first fenced code block."""
    match = re.search(r"^```[a-z]*\n(.*?)^```", README.read_text(), re.M | re.S)
    assert match, "README.md has no code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def steps(command: str) -> list[list[str]]:
    return [shlex.split(step) for step in command.split("&&")]


def venv_of(command: str) -> str:
    """The venv directory the command creates in its first step."""
    first = steps(command)[0]
    assert first[:3] == ["python3", "-m", "venv"] and len(first) == 4, command
    return first[3]


def test_readme_starts_with_two_setup_commands_that_make_and_use_a_venv() -> None:
    commands = setup_commands()
    assert len(commands) == 2, commands
    for command, extra in zip(commands, (".", ".[test]"), strict=True):
        venv = venv_of(command)
        rest = steps(command)[1:]
        # every program after the venv step is the venv's own, so nothing needs activating
        assert all(step[0].startswith(f"{venv}/bin/") for step in rest), command
        assert rest[0] == [f"{venv}/bin/pip", "install", "-e", extra], command
    main_job, tests = (steps(command)[-1] for command in commands)
    assert main_job == [f"{venv_of(commands[0])}/bin/{MAIN_JOB[0]}", *MAIN_JOB[1:]]
    assert tests == [f"{venv_of(commands[1])}/bin/pytest"]


def test_the_venv_directory_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for command in setup_commands():
        venv = venv_of(command).rstrip("/")
        assert {venv, f"{venv}/", f"/{venv}", f"/{venv}/"} & set(ignored), venv


def test_ci_runs_the_readme_test_command_verbatim_and_its_linters_from_the_venv() -> None:
    lines = [line.strip() for line in CI.read_text().splitlines()]
    tests = setup_commands()[1]
    assert tests in lines
    venv = venv_of(tests)
    commands = [line for line in lines if line and not line.startswith("#")]
    assert any(line.startswith(f"{venv}/bin/ruff check ") for line in commands)
    assert f"{venv}/bin/mypy" in commands
    for tool in ("pip", "pytest", "ruff", "mypy", "tcpq"):  # a bare one is not the venv's
        assert not any(re.match(rf"{tool}\b", line) for line in commands), tool


def test_ci_installs_the_venv_module_and_the_programs_the_tests_use() -> None:
    text = CI.read_text()
    for package in ("python3-venv", "apache2-utils", "hping3", "socat", "nftables", "nginx-light", "curl"):
        assert re.search(rf"\b{package}\b", text), package
    assert "systemctl stop nginx" in text  # nginx's package starts a host service: not left running


def test_no_doc_says_sudo_tcpq_without_a_path_that_survives_sudo() -> None:
    docs = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    found = [
        f"{doc.relative_to(ROOT)}:{number}: {line.strip()}"
        for doc in docs
        for number, line in enumerate(doc.read_text().splitlines(), 1)
        if SUDO_BARE_TCPQ.search(line)
    ]
    assert found == []
    # and the README shows the way that works: the venv's tcpq by its path
    assert f"sudo {venv_of(setup_commands()[0])}/bin/tcpq lab " in README.read_text()
