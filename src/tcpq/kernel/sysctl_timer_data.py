"""The sysctls of TIME_WAIT, local ports, orphans and retransmission timers: entries only.

The second half of the sysctl catalogue (`kernel.sysctl_data` holds the listen queues and the
handshake, and the order in which both are listed); the same conventions as there.
"""

from tcpq.kernel.entries import Scope, SeedClaim, Sysctl, Verdict, defaults_since

# include/vdso/limits.h: INT_MAX, the disabled value of tcp_challenge_ack_limit since 6.0.
INT_MAX = 2**31 - 1

EHASH_NOTE = (
    "The kernel derives the default from the size of the established-connections hash table, "
    "which scales with RAM; the figure here is the reference host's (262144 buckets)."
)

ENTRIES: tuple[Sysctl, ...] = (
    Sysctl(
        name="net.ipv4.tcp_tw_reuse",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 0), ((4, 18), 2)),
        unit="mode",
        meaning=(
            "Whether connect() may take over a TIME_WAIT entry when picking an ephemeral port: 0 never, "
            "1 always, 2 only for loopback traffic. The entry must carry peer timestamps and be older "
            "than tcp_tw_reuse_delay. It never helps listeners; a port fixed by bind() can reuse a "
            "timestamped TIME_WAIT entry regardless of this setting."
        ),
        minimum=0,
        maximum=2,
        kernel_model="§8.5, §9",
        history=(
            "0 until 4.18. Value 2 (loopback only) was added and made the default by 79e9fed46038 (June "
            "2018, v4.18). In 6.14 the age test became tcp_tw_reuse_delay, in ms since the TIME_WAIT "
            "entry was created (before: more than 1 s since the last peer timestamp)."
        ),
        seed_claims=(
            SeedClaim(
                claim="tcp_tw_reuse lets TIME_WAIT sockets be reused for new connections; default 0 (off).",
                verdict=Verdict.OUTDATED,
                truth="The default is 2 (loopback only), and reuse applies only to outgoing connect() "
                "calls with timestamps on.",
                since="4.18 (79e9fed46038)",
            ),
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_tw_reuse_delay",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((6, 14), 1000)),
        unit="ms",
        meaning=(
            "Minimum age of a TIME_WAIT entry before tcp_tw_reuse lets connect() take it over for an "
            "automatically chosen port."
        ),
        minimum=1,
        maximum=60000,
        kernel_model="§8.5, §9",
        history=(
            "Added in 6.14 by Jakub Sitnicki's series 'tcp: Add sysctl to configure TIME-WAIT reuse "
            "delay' (net-next, December 2024). Before, the fixed rule was more than 1 s (whole seconds) "
            "since the last peer timestamp."
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_tw_recycle",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 0), ((4, 12), None)),
        unit="bool",
        meaning=(
            "Removed: no such file exists on 6.18. It used to expire TIME_WAIT entries early and reject "
            "SYNs whose timestamps went backwards per peer address, which broke clients behind NAT."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§8.7, §15(h)",
        history=(
            "Removed in 4.12 by commit 4396e46187ca (2017). The NAT breakage is the usual reason given; "
            "per-connection random timestamp offsets (4.10) made it unusable anyway (from memory)."
        ),
        seed_claims=(
            SeedClaim(
                claim="tcp_tw_recycle enables fast recycling of TIME_WAIT sockets (default 0).",
                verdict=Verdict.OUTDATED,
                truth="The sysctl no longer exists; writing it fails.",
                since="4.12 (4396e46187ca)",
            ),
        ),
    ),
    Sysctl(
        name="net.ipv4.tcp_fin_timeout",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 60)),
        unit="s",
        meaning=(
            "How long an orphaned socket (closed by the application) may stay in FIN_WAIT2 waiting for "
            "the peer's FIN; TCP_LINGER2 overrides it per socket. It does not change TIME_WAIT, which is "
            "always 60 s."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§8.1, §8.4, §9",
        history=(
            "Default 60 s (TCP_FIN_TIMEOUT equals TCP_TIMEWAIT_LEN). An orphan's FIN_WAIT2 of 60 s or "
            "less is handed to a light TIME_WAIT entry, so it counts against tcp_max_tw_buckets."
        ),
        seed_claims=(
            SeedClaim(
                claim="tcp_fin_timeout decides how long a locally closed socket stays in FIN_WAIT-2; "
                "default 2MSL.",
                verdict=Verdict.PARTLY,
                truth="It only applies to orphaned sockets, the default is 60 s, and it is not the "
                "TIME_WAIT length (fixed at 60 s) despite being often tuned for it.",
                since="always",
            ),
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_keepalive_time",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 7200)),
        unit="s",
        meaning=(
            "Idle time before the first keepalive probe on sockets that enabled SO_KEEPALIVE. With the "
            "default probes and interval a dead peer is detected after 7200 + 9 x 75 = 7875 s."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§9",
        history="Default 2 hours, unchanged since 2.x (early history from memory).",
        seed_claims=(
            SeedClaim(
                claim="tcp_keepalive_time defaults to 2 hours.",
                verdict=Verdict.RIGHT,
                truth="7200 s. It only affects sockets with SO_KEEPALIVE set.",
                since="always",
            ),
        ),
    ),
    Sysctl(
        name="net.ipv4.tcp_keepalive_intvl",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 75)),
        unit="s",
        meaning="Interval between keepalive probes once probing has started.",
        minimum=None,
        maximum=None,
        kernel_model="§9",
        history="Default 75 s, unchanged since 2.x (from memory).",
    ),
    Sysctl(
        name="net.ipv4.tcp_keepalive_probes",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 9)),
        unit="count",
        meaning="Unanswered keepalive probes after which the connection is reset (TCPAbortOnTimeout).",
        minimum=0,
        maximum=255,
        kernel_model="§9",
        history="Default 9, unchanged since 2.x (from memory).",
    ),
    Sysctl(
        name="net.ipv4.tcp_max_tw_buckets",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 131072)),
        unit="count",
        meaning=(
            "Maximum number of TIME_WAIT entries (including orphaned FIN_WAIT2 ones) in the namespace. "
            "At the limit a closing socket is simply destroyed without TIME_WAIT (TCPTimeWaitOverflow); "
            "6.18 logs nothing. " + EHASH_NOTE + " The formula is buckets/2."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§8.2, §9",
        history=(
            "Derived as hash buckets / 2 on modern kernels. Very old kernels (2.4, early 2.6) set fixed "
            "values by memory size, 180000 on large machines, which is where the seed's figure comes "
            "from (from memory). Older kernels logged 'TCP: time wait bucket table overflow'; 6.18 does "
            "not, although ip-sysctl.rst still says a warning is printed."
        ),
        seed_claims=(
            SeedClaim(
                claim="Default 180000; beyond it TIME_WAIT sockets are cleared at once and a warning is "
                "printed.",
                verdict=Verdict.PARTLY,
                truth="The default depends on RAM (131072 on the reference host). Beyond the limit no "
                "TIME_WAIT entry is created: the socket closes directly and TCPTimeWaitOverflow counts it. "
                "6.18 prints no warning.",
                since="6.18 behaviour; 180000 was an old fixed default (from memory)",
            ),
        ),
        used_by_model=True,
        scales_with_ehash=True,
    ),
    Sysctl(
        name="net.ipv4.ip_local_port_range",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), (32768, 61000)), ((4, 2), (32768, 60999))),
        unit="ports",
        meaning=(
            "First and last local port connect() may pick automatically, 28232 ports by default. The "
            "two ends should have different parity because connect() prefers even ports and leaves "
            "odd ones to bind(); a range with equal parity is accepted but logged."
        ),
        minimum=1,
        maximum=65535,
        kernel_model="§8.5, §9",
        history=(
            "32768-61000 on large-memory machines before the change (small machines got 1024-4999 in old "
            "kernels, from memory). Commit 07f4c90062f8 ('tcp/dccp: try to not exhaust "
            "ip_local_port_range in connect()', May 2015) made it 60999; first release 4.2, inferred "
            "from the date. The low end must not be below ip_unprivileged_port_start."
        ),
        seed_claims=(
            SeedClaim(
                claim="The default range is small; set it to 1024 65000.",
                verdict=Verdict.PARTLY,
                truth="The default is 32768-60999 (28232 ports per destination). Widening it is a valid "
                "fix for port exhaustion, but 1024 65000 has equal parity, which the kernel warns about "
                "('prefer different parity'), and it can overlap ports that servers bind.",
                since="4.2 (60999)",
            ),
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.core.netdev_max_backlog",
        scope=Scope.GLOBAL,
        defaults=defaults_since(((2, 6), 1000)),
        unit="count",
        meaning=(
            "Length of each CPU's input packet queue, used when packets arrive faster than the softirq "
            "handler processes them. It has nothing to do with listen() queues; it is the same for "
            "every network namespace."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§9, §15(i)",
        history=(
            "1000 since the 2.6 era (300 before, from memory). On 6.18 it is kept in net/core/hotdata.c. "
            "Overflows show as the second column of /proc/net/softnet_stat."
        ),
        seed_claims=(
            SeedClaim(
                claim="net.core.netdev_max_backlog defaults to 128 and bounds the packets queued per "
                "network interface.",
                verdict=Verdict.WRONG,
                truth="The default is 1000. The queue is per CPU, the sysctl is global, and it bounds "
                "received packets waiting for protocol processing, not connections.",
                since="2.6 era (from memory)",
            ),
        ),
    ),
    Sysctl(
        name="net.ipv4.tcp_max_orphans",
        scope=Scope.GLOBAL,
        defaults=defaults_since(((2, 6), 131072)),
        unit="count",
        meaning=(
            "Host-wide limit on TCP sockets no process holds any more (closed but still sending FIN or "
            "data). Above it, closing or retransmitting orphans are reset, counted in TCPAbortOnMemory, "
            "and 'too many orphaned sockets' is logged. " + EHASH_NOTE + " The formula is buckets/2; the "
            "file exists only in the initial namespace."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§8.8, §9",
        history=(
            "Global (ipv4_table) throughout. Old kernels scaled it with memory in tcp_init (from memory); "
            "it is derived from the hash size now. The orphan count is a cached per-CPU sum refreshed "
            "every 100 ms."
        ),
        seed_claims=(
            SeedClaim(
                claim="Sockets not attached to any file handle beyond this number are reset and a warning "
                "is printed; raise it on machines with plenty of memory.",
                verdict=Verdict.RIGHT,
                truth="Matches 6.18: RST, TCPAbortOnMemory and 'too many orphaned sockets'. It is global, "
                "not per namespace.",
                since="always",
            ),
        ),
        scales_with_ehash=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_orphan_retries",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 0)),
        unit="count",
        meaning=(
            "Retransmission budget for orphaned sockets before they are killed. 0 means 8 while the "
            "socket is still considered alive."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§8.8, §9",
        history=(
            "Default 0, which the tcp_orphan_retries() helper turns into 8; ip-sysctl.rst says 'default 8'."
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_retries1",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 3)),
        unit="count",
        meaning=(
            "After this many unanswered retransmissions of data, TCP asks the network layer to re-check "
            "the route (negative advice) before carrying on."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§9",
        history="Default 3, unchanged since 2.x (from memory).",
    ),
    Sysctl(
        name="net.ipv4.tcp_retries2",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 15)),
        unit="count",
        meaning=(
            "Retransmissions of data on an established connection before it is aborted with ETIMEDOUT. "
            "The kernel turns the count into a time budget: 15 gives about 924.6 s with the default RTO "
            "limits."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§9",
        history="Default 15, unchanged since 2.x (from memory).",
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_rto_min_us",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((6, 11), 200000)),
        unit="us",
        meaning=(
            "Lower bound of the retransmission timeout given to new sockets. A route's rto_min and "
            "TCP_BPF_RTO_MIN take precedence."
        ),
        minimum=1,
        maximum=None,
        kernel_model="§5.4, §9",
        history=(
            "Added by f086edef71be 'tcp: add sysctl_tcp_rto_min_us' (Kevin Yang, net-next June 2024), "
            "so first released in 6.11 (release inferred from the date). Before: the constant "
            "TCP_RTO_MIN, 200 ms, adjustable only per route."
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_rto_max_ms",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((6, 15), 120000)),
        unit="ms",
        meaning=(
            "Upper bound of the retransmission timeout for new sockets; it also caps the interval between "
            "SYN-ACK retransmissions of a listener's requests. TCP_RTO_MAX_MS overrides it per socket."
        ),
        minimum=1000,
        maximum=120000,
        kernel_model="§3.2, §3.5, §5.1, §9",
        history=(
            "Added in 6.15 with the TCP_RTO_MAX_MS socket option (1280c26228bd 'tcp: add tcp_rto_max_ms "
            "sysctl', Eric Dumazet, February 2025). Before: the constant TCP_RTO_MAX, 120 s."
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_invalid_ratelimit",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((4, 0), 500)),
        unit="ms",
        meaning=(
            "Minimum gap between replies a socket sends to invalid or duplicate segments (duplicate ACKs, "
            "challenge ACKs, SYN-ACKs for retransmitted SYNs). It stops ACK loops; suppressed replies to "
            "requests count as TCPACKSkippedSynRecv."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§4.1, §5.4, §9",
        history="Added in 4.0 as part of the 2015 ACK-loop mitigation work (from memory); default 500 ms.",
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_challenge_ack_limit",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((3, 6), 100), ((4, 7), 1000), ((6, 0), INT_MAX)),
        unit="count",
        meaning=(
            "Namespace-wide limit on RFC 5961 challenge ACKs per second. The default INT_MAX disables it; "
            "only the per-socket tcp_invalid_ratelimit applies."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§5.4",
        history=(
            "Introduced with RFC 5961 support in 3.6 at 100 per second host-wide (from memory). 4.7 "
            "raised it to 1000 and randomised it after CVE-2016-5696 (75ff39ccc1bd 'tcp: make challenge "
            "acks less predictable'; version from memory). 6.0 made it per namespace and disabled by "
            "default ('tcp: make global challenge ack rate limitation per net-ns and default disabled', "
            "August 2022 fix)."
        ),
    ),
    Sysctl(
        name="net.ipv4.tcp_timestamps",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 1)),
        unit="mode",
        meaning=(
            "Whether TCP timestamps (RFC 7323) are offered: 0 off, 1 on with a random offset per "
            "connection, 2 on without the offset. They provide PAWS and RTT samples, are required by "
            "tcp_tw_reuse, and let SYN cookies keep window scaling and SACK."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§7.3, §8.5",
        history=(
            "Default 1 throughout. Per-connection random offsets since 4.10 and value 2 since 4.13 "
            "(both from memory)."
        ),
        seed_claims=(
            SeedClaim(
                claim="Timestamps avoid sequence-number wrap problems but are best switched off for Nginx.",
                verdict=Verdict.WRONG,
                truth="The first half is right (PAWS). Switching them off removes PAWS and RTT samples, "
                "makes tcp_tw_reuse impossible and strips window scaling and SACK from SYN-cookie "
                "connections; the default is 1.",
                since="always",
            ),
        ),
        used_by_model=True,
    ),
)
