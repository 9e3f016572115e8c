"""The sysctls that shape TCP connection establishment: the entries, and nothing else.

Each entry records the default per kernel version (so `tcpq` can answer for the kernel it is
looking at, not just the newest one), what the knob really does on 6.18, and how the claims of
the two seed articles hold up. Facts cite sections of kernel-model.md; anything not re-checked
against a primary source says "(from memory)" in its history text. The types are in
`kernel.entries`, the lookup in `kernel.sysctls`.
"""

from tcpq.kernel.entries import Scope, SeedClaim, Sysctl, Verdict, defaults_since
from tcpq.kernel.sysctl_timer_data import EHASH_NOTE
from tcpq.kernel.sysctl_timer_data import ENTRIES as TIMER_ENTRIES

# The listen queues and the handshake; TIME_WAIT, ports, orphans and timers in sysctl_timer_data.
_HANDSHAKE: tuple[Sysctl, ...] = (
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
            "once fewer than a quarter of this many slots remain. " + EHASH_NOTE + " The formula is "
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
)

ENTRIES: tuple[Sysctl, ...] = _HANDSHAKE + TIMER_ENTRIES
