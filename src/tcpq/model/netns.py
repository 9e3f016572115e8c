"""A network namespace as the model sees it: its sysctls (typed), behaviour profile and counters."""

from collections import Counter
from dataclasses import dataclass, field

from tcpq.kernel.profiles import Profile
from tcpq.model.constants import TCP_RTO_MAX_US, US_PER_MS, US_PER_S
from tcpq.model.mib import Counters

SysctlValues = dict[str, int | tuple[int, int]]


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
        """Type the dotted-name values; sysctls a profile lacks take their fixed behaviour."""

        def num(name: str, fallback: int) -> int:
            value = values.get(name, fallback)
            return value if isinstance(value, int) else fallback

        port_range = values.get("net.ipv4.ip_local_port_range", (32768, 60999))
        if not isinstance(port_range, tuple):
            port_range = (32768, 60999)
        return cls(
            somaxconn=num("net.core.somaxconn", 4096),
            max_syn_backlog=num("net.ipv4.tcp_max_syn_backlog", 2048),
            synack_retries=num("net.ipv4.tcp_synack_retries", 5),
            syn_retries=num("net.ipv4.tcp_syn_retries", 6),
            # Before v6.5 the linear phase does not exist (profile switch, kernel-model §5.1).
            syn_linear_timeouts=(
                num("net.ipv4.tcp_syn_linear_timeouts", 4) if profile.syn_linear_timeouts else 0
            ),
            syncookies=num("net.ipv4.tcp_syncookies", 1),
            abort_on_overflow=num("net.ipv4.tcp_abort_on_overflow", 0),
            local_port_range=port_range,
            max_tw_buckets=num("net.ipv4.tcp_max_tw_buckets", 131072),
            fin_timeout_us=num("net.ipv4.tcp_fin_timeout", 60) * US_PER_S,
            tw_reuse=num("net.ipv4.tcp_tw_reuse", 2),
            # Before v6.14: reuse once more than one whole second passed (§8.5); modelled as 2 s,
            # the point at which the whole-second difference is certainly > 1.
            tw_reuse_delay_us=(
                num("net.ipv4.tcp_tw_reuse_delay", 1000) * US_PER_MS
                if profile.tw_reuse_delay_tunable
                else 2 * US_PER_S
            ),
            rto_max_us=(
                num("net.ipv4.tcp_rto_max_ms", 120000) * US_PER_MS
                if profile.rto_max_tunable
                else TCP_RTO_MAX_US
            ),
            rto_min_us=num("net.ipv4.tcp_rto_min_us", 200000),
            invalid_ratelimit_us=num("net.ipv4.tcp_invalid_ratelimit", 500) * US_PER_MS,
            timestamps=num("net.ipv4.tcp_timestamps", 1) != 0,
            retries2=num("net.ipv4.tcp_retries2", 15),
            orphan_retries=num("net.ipv4.tcp_orphan_retries", 0),
        )


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
