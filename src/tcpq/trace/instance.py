"""tracefs and tcpq's instance in it: found or privately mounted, created small, always removed.

Instances are kernel-global (one tracefs superblock), so `tcpq-<pid>` names its owner and
`sweep_stale` removes those whose owner is gone (a SIGKILLed tcpq; `tcpq lab clean`). Only
files inside tcpq's own instance are ever written: the top-level buffer, its events and its
tracing_on are left as they are, for whoever else traces this host.
"""

import contextlib
import errno
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tcpq.errors import PermissionDenied, TcpqError
from tcpq.trace.formats import EventFormat, parse_format

PREFIX = "tcpq-"
NAME_RE = re.compile(r"^tcpq-(\d+)$")
MOUNT_POINT = "/sys/kernel/tracing"
HELPER_START_S = 10
RMDIR_TRIES = 20  # a reader closing its trace_pipe may hold the instance busy for a moment
RMDIR_PAUSE_S = 0.05


@dataclass
class Tracefs:
    """Where tracefs is: the host's own mount, or the private one of a helper process."""

    root: Path
    private: bool
    helper: subprocess.Popen[bytes] | None = None


def mounted_tracefs(mounts_text: str) -> Path | None:
    """/proc/mounts → a tracefs mount point (or debugfs's tracing/ directory)."""
    debugfs: Path | None = None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        if fields[2] == "tracefs":
            return Path(fields[1])
        if fields[2] == "debugfs" and debugfs is None:
            debugfs = Path(fields[1]) / "tracing"
    if debugfs is not None and (debugfs / "instances").is_dir():
        return debugfs
    return None


def _start_helper() -> Tracefs:
    helper = subprocess.Popen(
        [sys.executable, "-m", "tcpq.trace.mountns", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert helper.stdout is not None
    line = helper.stdout.readline().decode(errors="replace").strip()
    if line != "ready":
        _stop_helper(helper)
        detail = line.removeprefix("error ").strip() or "it exited"
        raise TcpqError(f"cannot mount tracefs in a private mount namespace: {detail}")
    return Tracefs(Path(f"/proc/{helper.pid}/root{MOUNT_POINT}"), private=True, helper=helper)


def _stop_helper(helper: subprocess.Popen[bytes]) -> None:
    for stream in (helper.stdin, helper.stdout):
        if stream is not None:
            stream.close()  # EOF on its stdin: it exits by itself
    try:
        helper.wait(timeout=HELPER_START_S)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait(timeout=HELPER_START_S)


@contextlib.contextmanager
def open_tracefs(proc_mounts: Path = Path("/proc/mounts")) -> Iterator[Tracefs]:
    """tracefs as /proc/mounts has it, else a private mount that ends with the helper."""
    if os.geteuid() != 0:
        raise PermissionDenied("tcpq trace needs root: tracefs instances are created by root only")
    if "tracefs" not in Path("/proc/filesystems").read_text(encoding="ascii", errors="replace"):
        raise TcpqError("this kernel has no tracefs (CONFIG_TRACING is off): nothing to trace")
    found = mounted_tracefs(proc_mounts.read_text(encoding="utf-8", errors="replace"))
    tracefs = Tracefs(found, private=False) if found is not None else _start_helper()
    try:
        yield tracefs
    finally:
        if tracefs.helper is not None:
            _stop_helper(tracefs.helper)


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _rmdir(path: Path) -> bool:
    for _ in range(RMDIR_TRIES):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(RMDIR_PAUSE_S)
    return False


class Instance:
    """tracefs/instances/NAME: its own buffer, events, filters and trace_pipe."""

    def __init__(self, tracefs: Tracefs, name: str) -> None:
        self.name = name
        self.path = tracefs.root / "instances" / name
        self.pipe: int | None = None

    def create(self, buffer_kb: int, hash_pointers: bool) -> None:
        try:
            self.path.mkdir()
        except FileExistsError:
            # Ours from a previous run with the same pid (pids wrap): nobody else uses it.
            self.remove()
            self.path.mkdir()
        _write(self.path / "buffer_size_kb", str(buffer_kb))
        # CLOCK_MONOTONIC: event times compare with time.monotonic() when counters are read.
        _write(self.path / "trace_clock", "mono")
        hash_ptr = self.path / "options" / "hash-ptr"
        if hash_ptr.exists():
            _write(hash_ptr, "1" if hash_pointers else "0")

    def format(self, system: str, event: str) -> EventFormat | None:
        try:
            text = (self.path / "events" / system / event / "format").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None  # not on this kernel
        return parse_format(text, system)

    def enable(self, key: str, event_filter: str) -> None:
        directory = self.path / "events" / key
        if event_filter:
            try:
                _write(directory / "filter", event_filter)
            except OSError as exc:
                refused = f"the kernel refused the filter {event_filter!r} on {key}: {exc.strerror}"
                raise TcpqError(refused) from None
        _write(directory / "enable", "1")

    def open_pipe(self) -> int:
        _write(self.path / "tracing_on", "1")
        self.pipe = os.open(self.path / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        return self.pipe

    def lost(self) -> tuple[int, int]:
        """(overrun, dropped events) summed over the CPUs' stats files."""
        overrun = dropped = 0
        for stats in sorted((self.path / "per_cpu").glob("cpu*/stats")):
            for line in stats.read_text(encoding="ascii", errors="replace").splitlines():
                name, _, value = line.partition(":")
                if name == "overrun" and value.strip().isdigit():
                    overrun += int(value)
                elif name == "dropped events" and value.strip().isdigit():
                    dropped += int(value)
        return overrun, dropped

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            _write(self.path / "tracing_on", "0")
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
        if not _rmdir(self.path):
            raise TcpqError(f"tracefs instance {self.name} stayed busy; `tcpq lab clean` removes it later")


def instance_name(pid: int | None = None) -> str:
    return f"{PREFIX}{os.getpid() if pid is None else pid}"


def list_instances(tracefs: Tracefs) -> list[str]:
    try:
        return sorted(name for name in os.listdir(tracefs.root / "instances") if name.startswith(PREFIX))
    except FileNotFoundError:
        return []


def sweep_stale(tracefs: Tracefs) -> list[str]:
    """Remove `tcpq-<pid>` instances whose pid no process has; return their names."""
    removed = []
    for name in list_instances(tracefs):
        match = NAME_RE.match(name)
        if match is None or int(match.group(1)) == os.getpid() or Path(f"/proc/{match.group(1)}").exists():
            continue
        if _rmdir(tracefs.root / "instances" / name):
            removed.append(name)
    return removed


def sweep_stale_instances() -> list[str]:
    """`tcpq lab clean`'s sweep; nothing to do where the kernel has no tracefs."""
    if "tracefs" not in Path("/proc/filesystems").read_text(encoding="ascii", errors="replace"):
        return []
    with open_tracefs() as tracefs:
        return sweep_stale(tracefs)
