"""`tcpq lab clean`, and the lab tests' leak checks while another tcpq runs (issue 8, items 10, 15).

A stale namespace here is one `clean_stale()` targets: named `tcpq-<pid>-srv` for a pid no
process can have (above `kernel.pid_max`), so no concurrent run's pid is borrowed. The other
tcpq is a live process of this test whose command line reads like a lab server's, with a
`tcpq-<its pid>-srv` namespace and without this test run's tag: what another engineer's lab
looks like from here. Everything made here is removed by name and pid, bounded in time.
"""

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpq.cli import main
from tcpq.lab import sandbox

from . import test_lab
from .helpers import OWNER_VARIABLE, own_namespaces, own_processes, processes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root (CI runs as root)")

# User nobody cannot remove namespaces, nor perhaps reach this tree or its venv (a clone under
# /root): CAP_DAC_READ_SEARCH lets it read files and grants nothing over namespaces.
AS_NOBODY = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
]
LAB_SERVER = b"tcpq.lab.server"


def listed_namespaces() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def never_alive_pid() -> int:
    """A pid above pid_max: no process has it, so its namespaces are stale for good."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + os.getpid()


@pytest.fixture
def stale() -> Iterator[list[str]]:
    """Two namespaces a killed tcpq would leave (its server's and its client's)."""
    names = [f"{sandbox.PREFIX}{never_alive_pid()}-{role}" for role in ("srv", "cli")]
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=20)
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False, timeout=20)


@dataclass
class OtherTcpq:
    process: subprocess.Popen[bytes]
    namespace: str


@pytest.fixture
def other_tcpq() -> Iterator[OtherTcpq]:
    """A live process that is not this test run's, with its lab server's command line and namespace."""
    environment = {key: value for key, value in os.environ.items() if key != OWNER_VARIABLE}
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", LAB_SERVER.decode()], env=environment
    )
    namespace = f"{sandbox.PREFIX}{process.pid}-srv"
    try:
        subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=20)
        yield OtherTcpq(process, namespace)
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False, timeout=20)
        process.kill()
        process.wait(timeout=10)


def test_clean_as_nobody_exits_2_saying_it_needs_root_and_removes_nothing(stale: list[str]) -> None:
    assert shutil.which("setpriv") is not None, "setpriv (util-linux) is part of every Debian"
    result = subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "tcpq", "lab", "clean"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tcpq: error: ")
    assert "needs root" in result.stderr
    assert set(stale) <= set(listed_namespaces())


def test_clean_as_root_reports_exactly_what_it_removed(
    stale: list[str], other_tcpq: OtherTcpq, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sandbox.stale_namespaces
    # Another tcpq's clean removed this one between our listing and our `ip netns del`.
    vanished = f"{sandbox.PREFIX}{never_alive_pid()}-atk"
    mine = {*stale, other_tcpq.namespace}

    def only_mine() -> list[str]:
        """What clean would target among this test's namespaces (others' are not ours to remove)."""
        return [name for name in real() if name in mine] + [vanished]

    monkeypatch.setattr(sandbox, "stale_namespaces", only_mine)
    result = CliRunner().invoke(main, ["lab", "clean"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"removed 2 stale namespace(s): {', '.join(sorted(stale))}\n"
    left = listed_namespaces()
    assert not set(stale) & set(left)
    assert other_tcpq.namespace in left  # its owner runs


def test_leak_checks_count_only_this_runs_namespaces_and_programs(other_tcpq: OtherTcpq) -> None:
    assert other_tcpq.namespace in listed_namespaces()
    assert other_tcpq.process.pid in processes(lambda cmdline: LAB_SERVER in cmdline)
    assert own_namespaces(os.getpid()) == []
    assert other_tcpq.process.pid not in own_processes(lambda cmdline: LAB_SERVER in cmdline)


def test_lab_test_leak_check_is_not_fooled_by_another_tcpq(other_tcpq: OtherTcpq) -> None:
    """The lab test that checks the host is left alone, its leak check included, while another
    tcpq's namespace and lab server exist; the lab leaves that namespace alone too."""
    test_lab.test_host_namespace_untouched()
    assert other_tcpq.namespace in listed_namespaces()


def test_lab_test_leak_check_sees_this_runs_lab_programs(other_tcpq: OtherTcpq) -> None:
    """The programs of a lab this test started carry its tag through `ip netns exec`: the
    process leak check can fail, and fails on ours only."""
    proc = test_lab.start_lab()
    try:
        programs = test_lab.lab_processes()
        assert programs and other_tcpq.process.pid not in programs
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
    assert test_lab.lab_processes() == [] and own_namespaces(proc.pid) == []
