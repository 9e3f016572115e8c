"""The sysctls that shape TCP connection establishment: the entries, and nothing else.

Each entry records the default per kernel version (so `tcpq` can answer for the kernel it is
looking at, not just the newest one), what the knob really does on 6.18, and how the claims of
the two seed articles hold up. Facts cite sections of kernel-model.md; anything not re-checked
against a primary source says "(from memory)" in its history text. The types are in
`kernel.entries`, the lookup in `kernel.sysctls`.
"""

from tcpq.kernel.entries import Scope, SeedClaim, Sysctl, Verdict, defaults_since

# include/vdso/limits.h: INT_MAX, the disabled value of tcp_challenge_ack_limit since 6.0.
INT_MAX = 2**31 - 1

_EHASH_NOTE = (
    "The kernel derives the default from the size of the established-connections hash table, "
    "which scales with RAM; the figure here is the reference host's (262144 buckets)."
)

ENTRIES: tuple[Sysctl, ...] = (
    Sysctl(
        name="net.core.somaxconn",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 128), ((5, 4), 4096)),
        unit="count",
        meaning=(
            "Upper bound applied by listen() to the backlog an application asks for (negative requests "
            "become this value). The clamped backlog limits both the accept queue (it holds backlog + 1 "
            "connections) and the number of half-open requests."
        ),
        minimum=0,
        maximum=None,
        kernel_model="§1.1, §1.3, §2.2, §9",
        history=(
            "SOMAXCONN was 128 until 5.4, when 'net: increase SOMAXCONN to 4096' (Eric Dumazet) raised "
            "it. The strict '>' test that lets backlog + 1 connections wait is long-standing: commit "
            "64a146513f8f reverted an attempt to turn it into '>='. The value is read when listen() is "
            "called, so raising it later needs another listen() call."
        ),
        seed_claims=(
            SeedClaim(
                claim="The accept queue is min(backlog, somaxconn); with somaxconn 128 up to 129 "
                "ESTABLISHED connections can wait for accept().",
                verdict=Verdict.RIGHT,
                truth="listen() clamps the backlog to somaxconn and the queue is full only when it holds "
                "more than backlog entries, so 129 fit (measured: `ss` shows LISTEN 129 128). Clients can "
                "still see more ESTABLISHED sockets than that: those whose final ACK overflowed are "
                "established on the client side only.",
                since="long-standing (2.6 era)",
            ),
            SeedClaim(
                claim="The default somaxconn is 128.",
                verdict=Verdict.OUTDATED,
                truth="The default is 4096; 128 was the value before 5.4.",
                since="5.4",
            ),
            SeedClaim(
                claim="somaxconn sets how many connections the system initiates at the same time.",
                verdict=Verdict.WRONG,
                truth="It only caps listen() backlogs, i.e. queues of incoming connections, per network "
                "namespace. Outgoing connections are bounded by local ports, tcp_syn_retries and the "
                "like.",
                since="always",
            ),
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_max_syn_backlog",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 1024), ((5, 4), 2048)),
        unit="count",
        meaning=(
            "Not the SYN-queue size on current kernels: the listen backlog limits half-open requests. "
            "Its only job is, when tcp_syncookies is 0, to drop SYNs from peers without a cached RTT "
            "once fewer than a quarter of this many slots remain. " + _EHASH_NOTE + " The formula is "
            "max(128, buckets/128) since 5.4 and max(128, buckets/256) before."
        ),
        minimum=None,
        maximum=None,
        kernel_model="§2.1, §2.3, §9, §15(a)",
        history=(
            "In 2.4 and up to 2.6.19 the SYN queue was sized from this value (max(64, value) rounded up "
            "to a power of two). From 2.6.20 to 4.3 it was roundup_pow_of_two(max(8, min(backlog, "
            "value)) + 1) (the 2.6.20 boundary comes from third-party write-ups). Commit ef547f2ac16b "
            "'tcp: remove max_qlen_log' made the listen backlog the limit (4.4, from memory). 5.4 "
            "changed the default divisor from 256 to 128 ('tcp: increase tcp_max_syn_backlog max "
            "value'); 1024 is what the same host would have had before."
        ),
        seed_claims=(
            SeedClaim(
                claim="The SYN (half-open) queue length is max(64, tcp_max_syn_backlog).",
                verdict=Verdict.OUTDATED,
                truth="Up to backlog + 1 request sockets may exist, where backlog is the clamped listen() "
                "value; tcp_max_syn_backlog only drives the last-quarter drop when syncookies are off "
                "(measured: tcp_max_syn_backlog 8, backlog 100 admits 7 requests).",
                since="4.4 (backlog-based since ef547f2ac16b; '>' instead of '>=' since 6.13, 3479c7549fb1)",
            ),
            SeedClaim(
                claim="Some kernels take the smaller of the listen backlog and tcp_max_syn_backlog.",
                verdict=Verdict.OUTDATED,
                truth="That was the 2.6.20-4.3 rule, rounded up to a power of two. Today only the listen "
                "backlog counts.",
                since="4.4",
            ),
            SeedClaim(
                claim="The half-open queue is set by tcp_max_syn_backlog and defaults to 2048.",
                verdict=Verdict.PARTLY,
                truth="2048 is a typical default, but it is derived from the hash-table size (RAM), and "
                "the value does not size the queue.",
                since="5.4 (formula)",
            ),
        ),
        used_by_model=True,
        scales_with_ehash=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_synack_retries",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 5)),
        unit="count",
        meaning=(
            "How many times a listener retransmits the SYN-ACK of a half-open request before dropping it "
            "silently, unless the socket set TCP_SYNCNT. With 5, retransmissions go out at 1, 3, 7, 15 and "
            "31 s and the request is gone at 63 s; under SYN-queue pressure the kernel may cut the budget "
            "to 2."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§3.2, §3.3, §3.5, §9, §15(d)",
        history=(
            "Default 5 throughout. The 1 s initial timeout dates from 3.1 (9ad7c049f0f7); before it the "
            "SYN-ACKs went out at 3, 9, 21, 45 and 93 s and the request was dropped at 189 s. Since 6.15 "
            "the interval cap is the listener's tcp_rto_max_ms (before: the constant 120 s)."
        ),
        seed_claims=(
            SeedClaim(
                claim="The server retries the SYN-ACK 5 times at 1, 2, 4, 8 and 16 s intervals, waits "
                "another 32 s and gives up after 63 s.",
                verdict=Verdict.RIGHT,
                truth="Matches the defaults (measured 1.01, 3.03, 7.19, 15.38, 31.51 s; request gone by "
                "66 s). Pruning can lower the retries to 2 when the SYN queue is over half full; "
                "TCP_SYNCNT, TCP_DEFER_ACCEPT and tcp_rto_max_ms change the schedule; a retransmitted "
                "client SYN triggers an extra immediate SYN-ACK.",
                since="3.1",
            ),
        ),
        used_by_model=True,
        aliases=("net.ipv4_tcpsynack_retries",),
    ),
    Sysctl(
        name="net.ipv4.tcp_syn_retries",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 5), ((3, 7), 6)),
        unit="count",
        meaning=(
            "How many times connect() retransmits its SYN before failing with ETIMEDOUT (TCP_SYNCNT "
            "overrides it per socket). With 6 and tcp_syn_linear_timeouts 4 the SYNs go out at 0, 1, 2, "
            "3, 4, 5, 7, 11, 19, 35 and 67 s and connect() fails at 131 s."
        ),
        minimum=1,
        maximum=127,
        kernel_model="§5.1, §9, §15(e)",
        history=(
            "5 before 3.7, 6 since (from memory: 'tcp: Increase timeout for SYN segments'). The initial "
            "retransmission timeout was 3 s until 3.0 and is 1 s since 3.1 (9ad7c049f0f7). From 3.7 to "
            "6.4 the SYNs went out at 0, 1, 3, 7, 15, 31, 63 s and connect() failed at 127 s; 6.5 added "
            "the linear start (tcp_syn_linear_timeouts)."
        ),
        seed_claims=(
            SeedClaim(
                claim="Without a SYN-ACK the client sends its SYN again after 3 s, then after 9 s.",
                verdict=Verdict.OUTDATED,
                truth="The first retransmission comes after 1 s. On 6.18 the SYNs go out at 0, 1, 2, 3, "
                "4, 5, 7, 11, 19, 35 and 67 s and connect() fails at 131 s (measured 135 s with timer "
                "rounding).",
                since="3.1 (9ad7c049f0f7); linear start since 6.5",
            ),
        ),
        used_by_model=True,
        aliases=("net.ipv4.syn_retries",),
    ),
    Sysctl(
        name="net.ipv4.tcp_syn_linear_timeouts",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((6, 5), 4)),
        unit="count",
        meaning=(
            "How many of a client's SYN retransmissions keep the 1 s timeout before exponential backoff "
            "starts. connect() gets tcp_syn_retries + this many retransmissions in total. It does not "
            "apply to SYN-ACKs."
        ),
        minimum=0,
        maximum=127,
        kernel_model="§5.1, §3.5, §9",
        history=(
            "Added in 6.5 (ccce324dabfe, 'tcp: make the first N SYN RTO backoffs linear', May 2023). "
            "Later kernels (already 6.12) count tp->total_rto instead of icsk_backoff for the linear "
            "phase; the schedule is the same."
        ),
        used_by_model=True,
    ),
    Sysctl(
        name="net.ipv4.tcp_syncookies",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 0), ((3, 0), 1)),
        unit="mode",
        meaning=(
            "0: never send SYN cookies; 1: send them only when a listener's SYN queue is full (more than "
            "backlog requests); 2: send them for every SYN. A cookie keeps no state on the server, and "
            "loses window scaling, SACK and ECN unless the SYN carried timestamps. The accept-queue "
            "limit still applies."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§2.1, §2.4, §6.1, §7, §9, §15(f)",
        history=(
            "The kernel default changed from 0 to 1 around 2.6.33 (commit e994b7c901de, from memory); "
            "a (major, minor) version cannot name 2.6.33, so this table gives 0 for 2.6 and 1 from 3.0. "
            "Since 4.4 tcp_max_syn_backlog is not consulted while cookies are enabled. Needs "
            "CONFIG_SYN_COOKIES."
        ),
        seed_claims=(
            SeedClaim(
                claim="tcp_syncookies defaults to 0.",
                verdict=Verdict.OUTDATED,
                truth="The default is 1: cookies are sent only once a listener's SYN queue is full.",
                since="about 2.6.33 (from memory)",
            ),
            SeedClaim(
                claim="With tcp_syncookies=1 the SYN queue has no limit and tcp_max_syn_backlog is ignored.",
                verdict=Verdict.PARTLY,
                truth="Request sockets are still capped at backlog + 1; further SYNs get stateless "
                "cookies, so the number of attempts is unlimited but the SYN queue is not. The accept "
                "queue limit still holds. It is true that tcp_max_syn_backlog is not used while cookies "
                "are on.",
                since="4.4",
            ),
            SeedClaim(
                claim="Busy servers should not enable syncookies because the mechanism is imprecise.",
                verdict=Verdict.PARTLY,
                truth="In mode 1 cookies are only used once a SYN queue overflows, instead of dropping "
                "the SYN. Their real cost is that connections without TCP timestamps lose window scaling, "
                "SACK and ECN.",
                since="always",
            ),
        ),
        used_by_model=True,
        aliases=("net.ipv4.tcp.syncookies",),
    ),
    Sysctl(
        name="net.ipv4.tcp_abort_on_overflow",
        scope=Scope.PER_NETNS,
        defaults=defaults_since(((2, 6), 0)),
        unit="bool",
        meaning=(
            "What a listener does when a final ACK (or data) completes a handshake while its accept queue "
            "is full. 0: drop the segment, keep the request and let the SYN-ACK retransmissions retry. "
            "1: send a RST, so the already-connected client gets ECONNRESET."
        ),
        minimum=0,
        maximum=255,
        kernel_model="§4.3, §4.4, §9, §15(g)",
        history=(
            "Default 0 throughout. Since 4.10 (5ea8ea2cb7f1) a SYN that meets a full accept queue is "
            "dropped outright, so the setting only affects requests admitted while there was still room. "
            "6.15 added the drop reason TCP_LISTEN_OVERFLOW for the dropped final ACK."
        ),
        seed_claims=(
            SeedClaim(
                claim="Default 0 drops the ACK when the accept queue is full; 1 sends a RST to the client.",
                verdict=Verdict.RIGHT,
                truth="Matches 6.18. With 1 the RST also adds to EmbryonicRsts and OutRsts.",
                since="always",
            ),
            SeedClaim(
                claim="If the accept queue is full when the final ACK arrives, the server resends the "
                "SYN-ACK, the client ACKs again and the connection can complete later.",
                verdict=Verdict.RIGHT,
                truth="True with abort_on_overflow=0 (measured, including completion after accept()). "
                "The client's re-ACK is a rate-limited challenge ACK; its data retransmissions also "
                "retry; after 63 s the request vanishes and the client only learns of it from a RST when "
                "it next sends. Since 4.10 new SYNs are dropped while the queue is full, so this only "
                "happens to requests admitted before it filled.",
                since="4.10 for the SYN-drop part",
            ),
        ),
        used_by_model=True,
    ),
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
            "6.18 logs nothing. " + _EHASH_NOTE + " The formula is buckets/2."
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
            "and 'too many orphaned sockets' is logged. " + _EHASH_NOTE + " The formula is buckets/2; the "
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
