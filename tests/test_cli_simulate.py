"""`tcpq simulate` says what it ran: overrides, effective sysctls, seed; it refuses runs too big
for memory before allocating them, checks the seed, and exits 130 on Ctrl-C (issue 8, item 13)."""

import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpq.cli import main
from tcpq.errors import TcpqError
from tcpq.scenario import load_scenario

E1 = Path(__file__).parent / "sim" / "scenarios" / "e1_backlog.toml"
NGINX = Path(__file__).resolve().parent.parent / "examples" / "nginx-somaxconn-128.toml"
GIB = 1024**3
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, stderr: str) -> str:
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("tcpq: error: "), stderr
    return stderr


# -- what the run used ----------------------------------------------------------------------


def test_json_names_overrides_seed_and_effective_sysctls() -> None:
    code, out, err = run(
        "simulate",
        str(E1),
        "--json",
        "--seed",
        "7",
        "--set",
        "kernel.server_sysctl.net.core.somaxconn=2",
        "--set",
        "kernel.client_sysctl.net.ipv4.tcp_syn_retries=3",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["overrides"] == [
        "kernel.server_sysctl.net.core.somaxconn=2",
        "kernel.client_sysctl.net.ipv4.tcp_syn_retries=3",
    ]
    assert data["seed"] == 7
    assert data["kernel"]["sysctl"]["net.core.somaxconn"] == 2
    assert data["kernel"]["client_sysctl"]["net.ipv4.tcp_syn_retries"] == 3
    # Defaults of kernel 6.18 (E1 pins it), as `tcpq explain` gives them.
    _, explained, _ = run("explain", "somaxconn", "--kernel", "6.18", "--json")
    assert data["sysctl_defaults"]["net.core.somaxconn"] == json.loads(explained)["default"]
    assert data["sysctl_differs"] == ["net.core.somaxconn"]
    assert data["client_sysctl_differs"] == ["net.ipv4.tcp_syn_retries"]


def test_sysctls_set_in_the_file_are_marked_without_overrides() -> None:
    code, out, _ = run("simulate", str(NGINX), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["overrides"] == []
    assert data["sysctl_differs"] == data["client_sysctl_differs"] == ["net.core.somaxconn"]


def test_terminal_shows_overrides_and_marks_changed_sysctls() -> None:
    code, out, _ = run("simulate", str(E1), "--set", "kernel.server_sysctl.net.core.somaxconn=2")
    assert code == 0
    assert "--set kernel.server_sysctl.net.core.somaxconn=2" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["net.core.somaxconn"]]
    # server value (marked), client value, the kernel default
    assert rows == [["net.core.somaxconn", "2", "*", "4096", "4096"]]
    backlog = [line.split() for line in out.splitlines() if "net.ipv4.tcp_max_syn_backlog" in line]
    assert len(backlog) == 1 and "*" not in backlog[0]
    assert "seed 1" in out


def test_terminal_report_fits_80_columns() -> None:
    for path in (E1, NGINX):
        code, out, _ = run("simulate", str(path), "--set", "kernel.sysctl.net.ipv4.tcp_syncookies=2")
        assert code == 0
        wide = [line for line in out.splitlines() if len(line) > 80]
        assert not wide, wide


# -- the seed -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", str(2**64), "99999999999999999999999999"])
def test_bad_seed_is_one_line_error(seed: str) -> None:
    code, _, err = run("simulate", str(E1), "--seed", seed)
    assert "--seed" in one_line_error(code, err)


def test_bad_seed_in_the_file_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(E1.read_text() + "\n", encoding="utf-8")
    text = path.read_text().replace('duration = "3.5s"', 'duration = "3.5s"\nseed = -5')
    path.write_text(text, encoding="utf-8")
    code, _, err = run("simulate", str(path))
    assert "seed" in one_line_error(code, err)


# -- memory ---------------------------------------------------------------------------------

HUGE = """
name = "twenty million"
duration = "20s"
[kernel]
version = "6.18"
[clients]
rate = "1000000/s"
sources = 1000
"""


def _wait(pid: int, deadline: float) -> tuple[int, resource.struct_rusage] | None:
    """Reap `pid` with its own rusage; None if it is still running at `deadline`."""
    while time.monotonic() < deadline:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), usage
        time.sleep(0.05)
    return None


def _limit_address_space() -> None:
    # A guard for the code before the fix: a run that starts allocating fails fast.
    resource.setrlimit(resource.RLIMIT_AS, (3 * GIB, 3 * GIB))


def test_twenty_million_clients_refused_quickly_with_the_estimate(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(HUGE, encoding="utf-8")
    err_path = tmp_path / "stderr"
    started = time.monotonic()
    with err_path.open("wb") as err_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "tcpq", "simulate", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            preexec_fn=_limit_address_space,
        )
    try:
        reaped = _wait(child.pid, started + 30)
    finally:
        if child.returncode is None and reaped is None:
            child.kill()
            child.wait(5)
    assert reaped is not None, "still running after 30 s"
    code, usage = reaped
    elapsed = time.monotonic() - started
    err = err_path.read_text(encoding="utf-8")
    one_line_error(code, err)
    assert elapsed < 15, elapsed
    assert usage.ru_maxrss * 1024 < 400 * 1024**2, "it allocated the run"
    estimate = re.search(r"about ([0-9.]+) GiB", err)
    assert estimate is not None and float(estimate.group(1)) >= 1.0, err  # the issue: past 1 GB
    assert "--max-memory" in err


def test_max_memory_option(tmp_path: Path) -> None:
    code, _, err = run("simulate", str(E1), "--max-memory", "1K")
    assert "--max-memory" in one_line_error(code, err)
    code, _, err = run("simulate", str(E1), "--max-memory", "lots")
    assert "--max-memory" in one_line_error(code, err)
    code, out, err = run("simulate", str(E1), "--max-memory", "1G", "--json")
    assert code == 0, err
    assert json.loads(out)["clients"]["attempted"] == 9


def test_limit_is_a_fraction_of_mem_available(tmp_path: Path) -> None:
    from tcpq.observe.procfs import read_mem_available
    from tcpq.sim.runner import check_memory, estimate_memory, memory_limit

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  2048000 kB\nMemFree:  100 kB\nMemAvailable:  1000000 kB\n")
    small = memory_limit(None, read_mem_available(meminfo))
    assert 0 < small.bytes < 1_000_000 * 1024
    bigger = tmp_path / "meminfo2"
    bigger.write_text("MemAvailable:  2000000 kB\n")
    assert memory_limit(None, read_mem_available(bigger)).bytes == 2 * small.bytes
    scenario = load_scenario(E1, ["clients.count=2000000"])
    assert estimate_memory(scenario) > small.bytes
    with pytest.raises(TcpqError, match="MemAvailable"):
        check_memory(scenario, small)
    assert memory_limit("5G", read_mem_available(meminfo)).bytes == 5 * GIB  # the user's word wins


def test_estimate_grows_with_clients_and_attack() -> None:
    from tcpq.sim.runner import estimate_memory

    few = estimate_memory(load_scenario(E1, ["clients.count=1000"]))
    many = estimate_memory(load_scenario(E1, ["clients.count=100000"]))
    attacked = estimate_memory(load_scenario(E1, ["clients.count=1000", "attack.count=100000"]))
    assert many > few and attacked > few


KEEPING_UP = Path(__file__).parent.parent / "bench" / "keeping-up.toml"  # 20k/s, closing after 1 s


def test_a_closing_clients_history_costs_bytes_not_a_client() -> None:
    """Clients that close and leave TIME_WAIT cost their history once gone (8 bytes a value):
    ten times the attempts is not ten times the memory."""
    from tcpq.sim.runner import alive_at_once, estimate_memory

    short = load_scenario(KEEPING_UP, ["duration=100s"])
    long = load_scenario(KEEPING_UP, ["duration=1000s"])
    assert alive_at_once(short) == alive_at_once(long)
    per_attempt = (estimate_memory(long) - estimate_memory(short)) / (18_000_000)
    assert per_attempt == pytest.approx(16)  # its arrival and its connect time
    assert estimate_memory(long) < 1024**3  # the 20 million attempts under 1 GB


def test_estimate_counts_time_wait_up_to_the_buckets_and_stayers_in_full() -> None:
    from tcpq.sim.runner import alive_at_once

    default = alive_at_once(load_scenario(KEEPING_UP))
    capped = alive_at_once(load_scenario(KEEPING_UP, ["kernel.sysctl.net.ipv4.tcp_max_tw_buckets=1000"]))
    assert capped == pytest.approx(default - 2 * (131072 - 1000))  # both namespaces' buckets
    staying = load_scenario(KEEPING_UP, ["clients.close_after=never"])
    assert alive_at_once(staying) == pytest.approx(1_200_000)  # 20k/s for 60 s, all still there


def test_estimate_is_above_what_a_run_allocates() -> None:
    """The estimate is for refusing a run before it starts: it must not be below what the
    simulator really allocates (traced by tracemalloc) for clients that come and go."""
    import tracemalloc

    from tcpq.sim.runner import BASE_BYTES, estimate_memory, simulate

    scenario = load_scenario(KEEPING_UP, ["duration=8s", "clients.rate=4000/s"])
    tracemalloc.start()
    try:
        simulate(scenario)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < estimate_memory(scenario) - BASE_BYTES


# -- Ctrl-C ---------------------------------------------------------------------------------

LONG = """
name = "long"
duration = "60s"
[kernel]
version = "6.18"
[clients]
rate = "20000/s"
request = true
sources = 100
"""


def _read(fd: int, until: bytes, deadline: float) -> bytes:
    """Read the pty until `until` appears, it closes, or `deadline`."""
    seen = b""
    while time.monotonic() < deadline and until not in seen:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    return seen


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # gone while we looked
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_ctrl_c_during_simulate_exits_130_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "long.toml"
    path.write_text(LONG, encoding="utf-8")
    master, slave = os.openpty()  # stderr a terminal: the progress bar shows the run is under way
    env = {key: value for key, value in os.environ.items() if key != "TTY_COMPATIBLE"}
    child = subprocess.Popen(
        # --max-memory: the run is stopped long before it grows; this host's memory is not the point
        [sys.executable, "-m", "tcpq", "simulate", str(path), "--max-memory", "4G"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        start_new_session=True,
        env=env | {"TERM": "xterm"},  # rich draws no live bar on a dumb terminal
    )
    os.close(slave)
    try:
        before = _read(master, b"simulating", time.monotonic() + 30)
        assert b"simulating" in before, before
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C sends: the foreground group
        code = child.wait(timeout=20)
        after = _read(master, b"\0", time.monotonic() + 2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        os.close(master)
    text = ANSI.sub("", (before + after).decode("utf-8", "replace"))
    assert code == 130, text
    assert "Traceback" not in text and "Aborted" not in text, text
    errors = [line for line in text.splitlines() if "tcpq:" in line or "Error" in line]
    assert errors == ["tcpq: interrupted"], text
    assert _group_members(child.pid) == []  # nothing left running


def test_ctrl_c_in_any_command_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    import tcpq.kernel.lookup

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tcpq.kernel.lookup, "explain", interrupted)
    code, out, err = run("explain", "somaxconn")
    assert code == 130 and err == "tcpq: interrupted\n" and out == ""
