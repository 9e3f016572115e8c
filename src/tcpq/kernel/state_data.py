"""TCP socket states, what each means and how tools name it: the entries only.

The types (with the kernel's numbering, include/net/tcp_states.h) are in `kernel.entries`,
the lookup in `kernel.states`.
"""

from tcpq.kernel.entries import StateInfo, TcpState

# Ascending state numbers: where two states display under one name, the real state comes first.
ENTRIES: tuple[StateInfo, ...] = (
    StateInfo(
        state=TcpState.ESTABLISHED,
        ss_name="ESTAB",
        netstat_name="ESTABLISHED",
        meaning="The handshake is complete on this side and data can flow both ways.",
        entered=(
            "Client: on receiving the SYN-ACK, when connect() returns. Server: a child socket is cloned "
            "from the request in SYN_RECV when the final ACK (or data) arrives, moves to ESTABLISHED "
            "while processing that same segment and then waits in the accept queue."
        ),
        left=(
            "close() or shutdown(SHUT_WR) -> FIN_WAIT1; the peer's FIN -> CLOSE_WAIT; a RST or "
            "retransmission timeout -> CLOSE (EstabResets)."
        ),
        kernel_model="§4.3, §5.3, §5.4, §13",
        seed_note=(
            "The seeds describe the half-open entry itself turning ESTABLISHED when it moves to the "
            "accept queue; the kernel replaces the request with a new child socket. A client can be "
            "ESTABLISHED while the server dropped its final ACK, so connect() succeeding proves nothing "
            "about the server side."
        ),
    ),
    StateInfo(
        state=TcpState.SYN_SENT,
        ss_name="SYN-SENT",
        netstat_name="SYN_SENT",
        meaning="connect() sent a SYN and is waiting for the SYN-ACK; `ss` shows Send-Q 1 (the SYN).",
        entered="connect() on a closed socket (CLOSE -> SYN_SENT; ActiveOpens + 1).",
        left=(
            "SYN-ACK -> ESTABLISHED; RST -> CLOSE with ECONNREFUSED; tcp_syn_retries + "
            "tcp_syn_linear_timeouts retransmissions unanswered -> CLOSE with ETIMEDOUT (131 s by default)."
        ),
        kernel_model="§5.1, §5.2, §10.1, §13",
        seed_note=(
            "One seed spells it SYN_SEND and says the SYN is resent after 3 s and 9 s; since 3.1 the "
            "first retransmission comes after 1 s."
        ),
    ),
    StateInfo(
        state=TcpState.SYN_RECV,
        ss_name="SYN-RECV",
        netstat_name="SYN_RECV",
        meaning=(
            "A server-side connection whose handshake is not finished. Full sockets are in this state "
            "only briefly (a child being created, Fast Open, simultaneous open); the half-open entries "
            "listed as SYN-RECV are request sockets, really NEW_SYN_RECV."
        ),
        entered=(
            "tcp_create_openreq_child clones a child in SYN_RECV when the final ACK arrives (the "
            "tracepoint shows LISTEN -> SYN_RECV); a simultaneous open also passes through it."
        ),
        left="ACK processed -> ESTABLISHED; RST or timeout -> CLOSE (AttemptFails).",
        kernel_model="§4.3, §10.2, §10.3, §13",
        seed_note=(
            "The seeds size the half-open queue with tcp_max_syn_backlog; on current kernels the listen "
            "backlog is the limit (backlog + 1 requests) and tcp_max_syn_backlog only drives a drop rule "
            "when syncookies are off."
        ),
    ),
    StateInfo(
        state=TcpState.FIN_WAIT1,
        ss_name="FIN-WAIT-1",
        netstat_name="FIN_WAIT1",
        meaning="This side closed and sent a FIN that the peer has not acknowledged yet.",
        entered="close() or shutdown(SHUT_WR) from ESTABLISHED.",
        left=(
            "ACK of the FIN -> FIN_WAIT2; FIN+ACK -> TIME_WAIT; a bare FIN -> CLOSING. Orphans give up "
            "after tcp_orphan_retries retransmissions or when tcp_max_orphans is exceeded."
        ),
        kernel_model="§8.4, §8.8",
    ),
    StateInfo(
        state=TcpState.FIN_WAIT2,
        ss_name="FIN-WAIT-2",
        netstat_name="FIN_WAIT2",
        meaning=(
            "Our FIN was acknowledged; waiting for the peer's FIN. A half-closed socket an application "
            "still holds can stay here indefinitely; an orphan is limited by tcp_fin_timeout."
        ),
        entered="ACK of our FIN in FIN_WAIT1.",
        left=(
            "The peer's FIN -> TIME_WAIT. An orphan times out after tcp_fin_timeout (or TCP_LINGER2); if "
            "that is at most 60 s it waits in a light TIME_WAIT entry (substate FIN_WAIT2) that counts "
            "against tcp_max_tw_buckets."
        ),
        kernel_model="§8.2, §8.4",
    ),
    StateInfo(
        state=TcpState.TIME_WAIT,
        ss_name="TIME-WAIT",
        netstat_name="TIME_WAIT",
        meaning=(
            "The side that closed first, after the exchange of FINs, keeps the 4-tuple for a fixed 60 s "
            "(TCP_TIMEWAIT_LEN) so late segments are not taken for a new connection. It is a light "
            "inet_timewait_sock holding no file descriptor and no buffers."
        ),
        entered=(
            "The peer's FIN in FIN_WAIT2, FIN+ACK in FIN_WAIT1, or the ACK in CLOSING (tcp_time_wait). "
            "Not created when tcp_max_tw_buckets is reached (TCPTimeWaitOverflow)."
        ),
        left=(
            "The 60 s timer; taken over by connect() under tcp_tw_reuse (TWRecycled); killed by an "
            "acceptable new SYN for the same 4-tuple, which goes to the listener."
        ),
        kernel_model="§8.1, §8.2, §8.3, §8.5, §8.6, §10.2",
        seed_note=(
            "The seeds speak of 2MSL and of tuning sysctls; Linux uses a fixed 60 s that no sysctl "
            "changes (tcp_fin_timeout does not), tcp_tw_recycle no longer exists, and TIME_WAIT entries "
            "use no file descriptors."
        ),
    ),
    StateInfo(
        state=TcpState.CLOSE,
        ss_name="UNCONN",
        netstat_name="CLOSE",
        meaning="Not connected: a new or merely bound socket, or one whose connection has ended.",
        entered="socket(); a refused, reset or timed-out connection; the ACK in LAST_ACK.",
        left="connect() -> SYN_SENT; listen() -> LISTEN.",
        kernel_model="§1.2, §5.2",
        seed_note="The seeds call it CLOSED; the kernel, ss and netstat say CLOSE / UNCONN.",
    ),
    StateInfo(
        state=TcpState.CLOSE_WAIT,
        ss_name="CLOSE-WAIT",
        netstat_name="CLOSE_WAIT",
        meaning=(
            "The peer closed its side (its FIN arrived) and the local application has not closed yet. "
            "Many sockets stuck here mean the application does not call close()."
        ),
        entered="The peer's FIN in ESTABLISHED.",
        left="close() -> LAST_ACK; a RST -> CLOSE (EstabResets).",
        kernel_model="§5.2",
        seed_note="The seeds are right that a pile of CLOSE_WAIT points at the application.",
    ),
    StateInfo(
        state=TcpState.LAST_ACK,
        ss_name="LAST-ACK",
        netstat_name="LAST_ACK",
        meaning="The side that closed second sent its FIN and waits for the final ACK.",
        entered="close() in CLOSE_WAIT.",
        left="ACK of the FIN -> CLOSE; retransmissions exhausted -> CLOSE.",
        kernel_model="§8 (not detailed there)",
    ),
    StateInfo(
        state=TcpState.LISTEN,
        ss_name="LISTEN",
        netstat_name="LISTEN",
        meaning=(
            "A socket accepting connections. It owns the half-open requests and the accept queue; `ss` "
            "shows the accept-queue length as Recv-Q and the clamped backlog as Send-Q (Recv-Q can be "
            "Send-Q + 1 when full)."
        ),
        entered="listen() on a closed socket; calling listen() again only changes the backlog.",
        left="close() -> CLOSE; pending requests are migrated within a reuseport group or dropped.",
        kernel_model="§1, §2, §10.1, §10.3",
    ),
    StateInfo(
        state=TcpState.CLOSING,
        ss_name="CLOSING",
        netstat_name="CLOSING",
        meaning="Both sides sent a FIN at about the same time; ours is not acknowledged yet.",
        entered="A FIN without the ACK of ours while in FIN_WAIT1.",
        left="ACK of our FIN -> TIME_WAIT.",
        kernel_model="§8 (not detailed there)",
    ),
    StateInfo(
        state=TcpState.NEW_SYN_RECV,
        ss_name="SYN-RECV",
        netstat_name="SYN_RECV",
        meaning=(
            "Kernel-internal state of a request socket: the small per-SYN entry of a half-open "
            "connection, hashed in the established table. `ss` (with -a or 'state syn-recv') and "
            "/proc/net/tcp (st 03) show it as SYN-RECV with Recv-Q/Send-Q 0 and the SYN-ACK timer."
        ),
        entered="A SYN admitted by tcp_conn_request (no cookie); no tracepoint event is emitted.",
        left=(
            "Replaced by a child socket when the final ACK arrives and the accept queue has room; "
            "removed silently after tcp_synack_retries (63 s by default); reset by a RST or SYN from "
            "the client (EmbryonicRsts)."
        ),
        kernel_model="§2.1, §3, §4, §10.2, §10.3, §13",
        seed_note=(
            "This is what the seeds call the SYN (half-open) queue entry. The state exists since 4.1 "
            "and all requests use it since 4.4 (both from memory)."
        ),
    ),
    StateInfo(
        state=TcpState.BOUND_INACTIVE,
        ss_name="UNCONN",
        netstat_name="",
        meaning=(
            "Kernel-internal value used only as a filter when asking inet_diag for sockets that are "
            "bound but neither listening nor connecting (`ss -B`). The sockets found are in CLOSE and "
            "are printed as UNCONN; /proc/net/tcp and netstat do not list them."
        ),
        entered="Never a real socket state.",
        left="Never a real socket state.",
        kernel_model="not covered by kernel-model (from memory: added around 6.8)",
    ),
)
