"""Counters from /proc/net/{netstat,snmp} and sysctls from /proc/sys, for one network namespace.

Both readers take their root as an argument: `/proc/net` (the caller's namespace),
`/proc/PID/net` (a process's namespace, readable without entering it) or
`/proc/thread-self/net` inside `netns.run_in_netns`. Sysctls have no per-process path: the
files under /proc/sys/net show the namespace of the thread that opens them.
"""

import re
from collections.abc import Iterable
from pathlib import Path

from tcpq.observe.sockets import ParseStats

SysctlValue = int | tuple[int, int]

COUNTER_FILES = ("netstat", "snmp")
"""The files `nstat` reads besides snmp6 (whose one-pair-per-line format is not read here)."""

_INT = re.compile(r"-?[0-9]+")  # not int(): it also takes "1_000", "+5" and non-ASCII digits


def _split(line: str) -> tuple[str, list[str]] | None:
    """ "TcpExt: A B" → ("TcpExt", ["A", "B"]); None when the line has no "Group:" head."""
    head, sep, rest = line.partition(":")
    if not sep or not head or not head.isidentifier():
        return None
    return head, rest.split()


def _values(tokens: list[str]) -> list[int] | None:
    if not all(_INT.fullmatch(token) for token in tokens):
        return None
    return [int(token) for token in tokens]


def parse_snmp_pairs(text: str, *, stats: ParseStats | None = None) -> dict[str, int]:
    """Header/value line pairs → nstat names (group + field: "TcpExtListenOverflows").

    A pair is used only when a header line is followed at once by a value line of the same group
    with as many integers as the header has names; anything else (garbage, a missing or extra
    value, a line of another group) is skipped rather than guessed. A last line without its
    newline is ignored: the kernel ends every line with one, so such a line may be cut short and
    its last number wrong. `stats` counts the lines that are not blank and those skipped: what
    a user is told, since the counters on a skipped line are missing from the result.
    """
    lines = text.split("\n")
    counters: dict[str, int] = {}
    header: tuple[str, list[str]] | None = None
    used = 0
    for line in lines[:-1]:  # not the unterminated tail ("" when text ends with \n)
        parsed = _split(line)
        if parsed is None:
            header = None
            continue
        group, tokens = parsed
        values = _values(tokens)
        if values is None:  # names, not numbers: a header (a valid one has identifiers only)
            header = parsed if all(token.isidentifier() for token in tokens) else None
            continue
        if header is not None and header[0] == group and len(header[1]) == len(values):
            counters.update((group + name, value) for name, value in zip(header[1], values, strict=True))
            used += 2
        header = None
    if stats is not None:
        seen = sum(1 for line in lines if line.strip())
        stats.lines += seen
        stats.skipped += seen - used
    return counters


def read_counters(proc_net: Path = Path("/proc/net"), *, stats: ParseStats | None = None) -> dict[str, int]:
    """/proc/net/netstat and /proc/net/snmp merged, under nstat names; a missing file is skipped.
    `stats` counts their lines and the malformed ones skipped (see parse_snmp_pairs)."""
    counters: dict[str, int] = {}
    for name in COUNTER_FILES:
        try:
            text = (proc_net / name).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            # A kernel built without the file, or /proc/PID/net of a process that has exited.
            continue
        counters.update(parse_snmp_pairs(text, stats=stats))
    return counters


def sysctl_path(name: str, proc_sys: Path = Path("/proc/sys")) -> Path | None:
    """The file of a dotted name, as sysctl(8) maps it ("/" in a name stands for "." in the path,
    e.g. net.ipv4.conf.eth0/1.rp_filter); None for a name that would leave `proc_sys`."""
    parts = [part.replace("/", ".") for part in name.split(".")]
    if any(part in ("", ".", "..") for part in parts):
        return None
    return proc_sys.joinpath(*parts)


def parse_sysctl_value(text: str) -> SysctlValue | None:
    """One integer, or two (ip_local_port_range); other shapes (strings, three-number tcp_rmem)
    are not values tcpq reasons about, so None."""
    values = _values(text.split())
    if values is None:
        return None
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return values[0], values[1]
    return None


def _read_sysctl(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        # Absent here: removed from this kernel, global (init_net only) when read inside a child
        # namespace, or a name that points at a directory or through a file.
        return None
    except PermissionError:
        # Mode 0200 (write-only, e.g. net.ipv4.route.flush) or 0600 for an unprivileged reader.
        return None


def read_sysctls(names: Iterable[str], proc_sys: Path = Path("/proc/sys")) -> dict[str, SysctlValue]:
    """Dotted names → values, as the calling thread's network namespace sees them.

    Names that are absent, unreadable or not one or two integers are left out, so a caller can
    tell "not here" from any value.
    """
    values: dict[str, SysctlValue] = {}
    for name in names:
        path = sysctl_path(name, proc_sys)
        text = None if path is None else _read_sysctl(path)
        value = None if text is None else parse_sysctl_value(text)
        if value is not None:
            values[name] = value
    return values


def read_mem_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable in bytes; None when the file or the line is missing (no /proc, kernel < 3.14)."""
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")
    except OSError:  # no such file, or not readable here: fall back to the fixed cap
        return None
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name == "MemAvailable" and fields and fields[0].isdigit():
            return int(fields[0]) * 1024  # the kernel writes kB (KiB)
    return None
