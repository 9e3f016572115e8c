"""What an entry of each catalogue records: a sysctl, a counter, a TCP state.

The types only, with the small helpers the data modules use to write entries briefly; the
entries are in `sysctl_data`, `counter_data` and `state_data`, the lookups in `sysctls`,
`counters` and `states`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from tcpq.kernel.versions import KernelVersion
from tcpq.records import frozen

# -- sysctls -------------------------------------------------------------------------------


class Scope(StrEnum):
    """Whether each network namespace has its own copy (kernel-model §9)."""

    PER_NETNS = "per-netns"
    GLOBAL = "global"


class Verdict(StrEnum):
    """How a seed article's claim holds up on 6.18 (kernel-model §15)."""

    RIGHT = "right"
    WRONG = "wrong"
    PARTLY = "partly right"
    OUTDATED = "outdated"


SysctlValue = int | tuple[int, int]
"""A sysctl value; the tuple form is only used by ip_local_port_range."""


@frozen
class DefaultSince:
    """The default that holds from `since` until the next entry; None means the sysctl is absent."""

    since: KernelVersion
    value: SysctlValue | None


@frozen
class SeedClaim:
    """A claim from a seed article, whether it holds, what is true instead and since when."""

    claim: str
    verdict: Verdict
    truth: str
    since: str


@frozen
class Sysctl:
    """One sysctl: defaults by version, meaning on 6.18, history and seed verdicts."""

    name: str
    scope: Scope
    defaults: tuple[DefaultSince, ...]
    unit: str
    meaning: str
    minimum: int | None
    maximum: int | None
    kernel_model: str
    history: str
    seed_claims: tuple[SeedClaim, ...] = ()
    used_by_model: bool = False
    aliases: tuple[str, ...] = ()
    """Extra spellings people use (the seeds misspell several names)."""
    scales_with_ehash: bool = False
    """The kernel derives the default from the established-hash size, which scales with RAM
    (tcp_set_hashinfo); the catalogue's figure is the reference host's (kernel-model §9)."""

    def default_for(self, version: KernelVersion) -> SysctlValue | None:
        """The default in force on `version`; None if the sysctl does not exist there."""
        value: SysctlValue | None = None
        for step in self.defaults:
            if step.since > version:
                break
            value = step.value
        return value

    @property
    def newest_default(self) -> SysctlValue | None:
        """The default on the newest kernel the catalogue describes (None: removed by then)."""
        return self.defaults[-1].value

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


def defaults_since(*steps: tuple[KernelVersion, SysctlValue | None]) -> tuple[DefaultSince, ...]:
    """`defaults_since(((2, 6), 128), ((5, 4), 4096))`: the steps of a default, oldest first."""
    return tuple(DefaultSince(since, value) for since, value in steps)


# -- counters ------------------------------------------------------------------------------


class CounterFile(StrEnum):
    """The procfs file a counter is read from (per network namespace)."""

    NETSTAT = "/proc/net/netstat"
    SNMP = "/proc/net/snmp"


@frozen
class Counter:
    """One counter: how tools name it, what it counts and where the kernel increments it."""

    nstat: str
    kernel_name: str
    group: str
    file: CounterFile
    netstat_s: str
    meaning: str
    increments: str
    kernel_model: str
    mib: str = ""
    """The kernel's enum name (LINUX_MIB_..., TCP_MIB_...), handy when reading the source."""

    def netstat_line(self, n: int) -> str:
        """The line `netstat -s` prints for this counter when it holds `n`."""
        return self.netstat_s.format(n=n)


RAW_NETSTAT = ""
"""net-tools prints these as "Name: N" (see the counters module docstring)."""


def tcp_ext(name: str, netstat_s: str, meaning: str, increments: str, kernel_model: str, mib: str) -> Counter:
    """A TcpExt counter of /proc/net/netstat (include/uapi/linux/snmp.h, LINUX_MIB_*)."""
    return Counter(
        nstat=f"TcpExt{name}",
        kernel_name=name,
        group="TcpExt",
        file=CounterFile.NETSTAT,
        netstat_s=netstat_s or f"{name}: {{n}}",
        meaning=meaning,
        increments=increments,
        kernel_model=kernel_model,
        mib=mib,
    )


def tcp_snmp(
    name: str, netstat_s: str, meaning: str, increments: str, kernel_model: str, mib: str
) -> Counter:
    """A Tcp counter of /proc/net/snmp (RFC 4022 names, TCP_MIB_*)."""
    return Counter(
        nstat=f"Tcp{name}",
        kernel_name=name,
        group="Tcp",
        file=CounterFile.SNMP,
        netstat_s=netstat_s,
        meaning=meaning,
        increments=increments,
        kernel_model=kernel_model,
        mib=mib,
    )


# -- states --------------------------------------------------------------------------------


class TcpState(IntEnum):
    """Kernel socket states (include/net/tcp_states.h)."""

    ESTABLISHED = 1
    SYN_SENT = 2
    SYN_RECV = 3
    FIN_WAIT1 = 4
    FIN_WAIT2 = 5
    TIME_WAIT = 6
    CLOSE = 7
    CLOSE_WAIT = 8
    LAST_ACK = 9
    LISTEN = 10
    CLOSING = 11
    NEW_SYN_RECV = 12
    BOUND_INACTIVE = 13


@frozen
class StateInfo:
    """What a state means, how it is entered and left, and what `ss`/`netstat` call it."""

    state: TcpState
    ss_name: str
    netstat_name: str
    meaning: str
    entered: str
    left: str
    kernel_model: str
    seed_note: str = ""

    @property
    def proc_st(self) -> str:
        """The value of the "st" column of /proc/net/tcp for sockets shown in this state."""
        shown = TcpState.SYN_RECV if self.state is TcpState.NEW_SYN_RECV else self.state
        return f"{shown.value:02X}"
