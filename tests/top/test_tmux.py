"""The real `tcpq top` in a real terminal (tmux, 80×24) on an overflowing listener in a
namespace of this test's own: it shows the listener dropping, `q` quits, SIGTERM exits 143
and Ctrl-C 130, each with the terminal given back (root, tmux)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.observe.nslab import PREFIX, Namespace, clients, listener, require_root_netns, run

PORT = 18641
WAIT_S = 20.0
SOCKET = f"{PREFIX}top"  # tmux server of this test only: never another user's sessions
EXIT_MARK = "tcpq-exit-status="


@pytest.fixture
def ns() -> Iterator[Namespace]:
    require_root_netns()
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux to run tcpq top in a real terminal")
    name = f"{PREFIX}top"
    run("ip", "netns", "add", name)
    created = Namespace(name)
    try:
        created.sh("ip", "link", "set", "lo", "up")
        yield created
    finally:
        created.stop()
        run("ip", "netns", "del", name, check=False)


def tmux(*args: str, check: bool = True) -> str:
    done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, timeout=10)
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def session(name: str, netns: str) -> Iterator[str]:
    """`tcpq top` in a detached 80×24 tmux session. Its shell prints tcpq's exit status when it
    ends: tmux 3.3's own #{pane_dead_status} was seen never to arrive (the pane marked dead,
    tcpq a zombie tmux did not reap). The sleep is bounded and kill-session ends it."""
    command = f"{sys.executable} -m tcpq top --netns {netns} --interval 0.5; echo {EXIT_MARK}$?; sleep 60"
    try:
        tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command)
        yield name
    finally:
        tmux("kill-session", "-t", name, check=False)


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def drops_per_s(text: str, endpoint: str) -> float | None:
    """The drops/s cell (the first) of the row showing `endpoint`, or None if not on screen."""
    for line in text.splitlines():
        if endpoint in line:
            first = line.split()[0]
            if re.fullmatch(r"[\d.]+k?", first):
                return float(first.rstrip("k")) * (1000 if first.endswith("k") else 1)
    return None


def exit_status(name: str) -> int | None:
    found = re.search(rf"{EXIT_MARK}(\d+)", screen(name))
    return int(found.group(1)) if found else None


def tcpq_pid(name: str) -> int:
    """tcpq, the child of the pane's shell (#{pane_pid})."""
    shell = tmux("list-panes", "-t", name, "-F", "#{pane_pid}").strip()
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # a process that exited meanwhile
            continue
        if fields[1] == shell:  # the field after the state is the parent's pid
            children.append(int(stat.parent.name))
    assert len(children) == 1, f"the pane's shell {shell} has children {children}"
    cmdline = Path(f"/proc/{children[0]}/cmdline").read_bytes()
    assert b"tcpq" in cmdline and b"top" in cmdline
    return children[0]


def test_top_in_tmux_shows_the_overflow_and_exits_cleanly(ns: Namespace) -> None:
    listener(ns, PORT, 4, "never")
    clients(ns, PORT, count=300, gap=0.02)
    endpoint = f"127.0.0.1:{PORT}"
    base = f"{PREFIX}tmux"

    with session(f"{base}-q", ns.name) as name:
        wait_for("drops/s > 0 on the listener's row", lambda: (drops_per_s(screen(name), endpoint) or 0) > 0)
        text = screen(name)
        assert f"netns {ns.name}" in text and "q quit" in text
        tmux("send-keys", "-t", name, "q")
        wait_for("q to end tcpq top", lambda: exit_status(name) is not None)
        assert exit_status(name) == 0

    with session(f"{base}-term", ns.name) as name:
        wait_for("the first frame", lambda: endpoint in screen(name))
        pid = tcpq_pid(name)
        os.kill(pid, signal.SIGTERM)
        wait_for("SIGTERM to end tcpq top", lambda: exit_status(name) is not None)
        assert exit_status(name) == 143
        assert "tcpq: terminated by signal 15" in screen(name)  # the terminal is back: the line shows
        assert not Path(f"/proc/{pid}").exists()

    with session(f"{base}-int", ns.name) as name:
        wait_for("the first frame", lambda: endpoint in screen(name))
        pid = tcpq_pid(name)
        tmux("send-keys", "-t", name, "C-c")
        wait_for("Ctrl-C to end tcpq top", lambda: exit_status(name) is not None)
        assert exit_status(name) == 130
        assert "tcpq: interrupted" in screen(name)
        assert not Path(f"/proc/{pid}").exists()
