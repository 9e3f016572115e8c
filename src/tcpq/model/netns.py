"""A network namespace as the model sees it: its sysctls (typed), behaviour profile and counters."""

from collections import Counter
from dataclasses import dataclass, field
from typing import TypeVar

from tcpq.kernel.profiles import Profile
from tcpq.kernel.sysctls import SYSCTLS
from tcpq.model.constants import TCP_RTO_MAX_US, US_PER_MS, US_PER_S
from tcpq.model.mib import Counters

SysctlValues = dict[str, int | tuple[int, int]]
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Settings:
    """The sysctls the model reads, resolved for one namespace (kernel-model §9)."""

    somaxconn: int
    max_syn_backlog: int
    synack_retries: int
    syn_retries: int
    syn_linear_timeouts: int
    syncookies: int
    abort_on_overflow: int
    local_port_range: tuple[int, int]
    max_tw_buckets: int
    fin_timeout_us: int
    tw_reuse: int
    tw_reuse_delay_us: int
    rto_max_us: int
    rto_min_us: int
    invalid_ratelimit_us: int
    timestamps: bool
    retries2: int
    orphan_retries: int = 0

    @classmethod
    def from_sysctls(cls, values: SysctlValues, profile: Profile) -> "Settings":
        """Type the dotted-name values; sysctls a profile lacks take their fixed behaviour.

        `values` normally holds every catalogue sysctl of the namespace's kernel
        (`resolve_sysctls`), so a name it lacks is one that kernel does not have: the model
        then uses the catalogue's newest default, where no profile switch says otherwise
        (tcp_rto_min_us before 6.11 is TCP_RTO_MIN, 200 ms, the constant the sysctl made
        tunable; before 4.0 tcp_invalid_ratelimit is not modelled and keeps 500 ms).
        """

        def num(name: str) -> int:
            return _value(values, name, int)

        port_range = _value(values, PORT_RANGE, tuple)
        return cls(
            somaxconn=num("net.core.somaxconn"),
            max_syn_backlog=num("net.ipv4.tcp_max_syn_backlog"),
            synack_retries=num("net.ipv4.tcp_synack_retries"),
            syn_retries=num("net.ipv4.tcp_syn_retries"),
            # Before v6.5 the linear phase does not exist (profile switch, kernel-model §5.1).
            syn_linear_timeouts=num("net.ipv4.tcp_syn_linear_timeouts") if profile.syn_linear_timeouts else 0,
            syncookies=num("net.ipv4.tcp_syncookies"),
            abort_on_overflow=num("net.ipv4.tcp_abort_on_overflow"),
            local_port_range=port_range,
            max_tw_buckets=num("net.ipv4.tcp_max_tw_buckets"),
            fin_timeout_us=num("net.ipv4.tcp_fin_timeout") * US_PER_S,
            tw_reuse=num("net.ipv4.tcp_tw_reuse"),
            # Before v6.14: reuse once more than one whole second passed (§8.5); modelled as 2 s,
            # the point at which the whole-second difference is certainly > 1.
            tw_reuse_delay_us=(
                num("net.ipv4.tcp_tw_reuse_delay") * US_PER_MS
                if profile.tw_reuse_delay_tunable
                else 2 * US_PER_S
            ),
            rto_max_us=(
                num("net.ipv4.tcp_rto_max_ms") * US_PER_MS if profile.rto_max_tunable else TCP_RTO_MAX_US
            ),
            rto_min_us=num("net.ipv4.tcp_rto_min_us"),
            invalid_ratelimit_us=num("net.ipv4.tcp_invalid_ratelimit") * US_PER_MS,
            timestamps=num("net.ipv4.tcp_timestamps") != 0,
            retries2=num("net.ipv4.tcp_retries2"),
            orphan_retries=num("net.ipv4.tcp_orphan_retries"),
        )


PORT_RANGE = "net.ipv4.ip_local_port_range"


def _value(values: SysctlValues, name: str, kind: type[V]) -> V:
    """`values[name]` when it is a `kind`, else the catalogue's default on the newest kernel it
    describes (a KeyError or TypeError is a programming error: a sysctl the catalogue lacks)."""
    for value in (values.get(name), SYSCTLS[name].newest_default):
        if isinstance(value, kind):
            return value
    raise TypeError(f"{name}: the catalogue's newest default is not {kind.__name__}")


@dataclass(slots=True)
class Netns:
    """One namespace's model state: settings, profile and nstat-named counters."""

    name: str
    settings: Settings
    profile: Profile
    counters: Counters = field(default_factory=Counter)
    # Peers with a TCP-metrics entry holding an RTT (tcp_peer_is_proven(), kernel-model §2.3).
    proven_peers: set[str] = field(default_factory=set)
    # Timewait socks alive in the namespace, whatever table holds them: tcp_max_tw_buckets is
    # a per-namespace limit ("its own death row", kernel-model §8.2).
    tw_count: int = 0
