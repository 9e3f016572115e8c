"""The TCP counters that tell the story of connection establishment: the entries only.

The types and the `netstat -s` conventions are in `kernel.entries` and `kernel.counters`.
"""

from tcpq.kernel.entries import RAW_NETSTAT, Counter, tcp_ext, tcp_snmp

ENTRIES: tuple[Counter, ...] = (
    tcp_ext(
        "ListenOverflows",
        "{n} times the listen queue of a socket overflowed",
        "A SYN or a handshake-completing segment (final ACK, data, valid cookie ACK) reached a listener "
        "whose accept queue was full and was dropped. Every increment also adds one to ListenDrops.",
        "tcp_conn_request (SYN, accept queue full); tcp_v4_syn_recv_sock / tcp_v6_syn_recv_sock (final "
        "ACK or cookie ACK while full); tcp_get_syncookie_mss (BPF/XDP cookies)",
        "§2.1, §4.3, §6.1, §11, §12",
        "LINUX_MIB_LISTENOVERFLOWS",
    ),
    tcp_ext(
        "ListenDrops",
        "{n} SYNs to LISTEN sockets dropped",
        "Any segment a listener dropped while setting up a connection. Despite the netstat wording it "
        "also counts dropped final ACKs, and besides overflows it counts SYN-queue drops without "
        "cookies, the last-quarter rule, memory or route failures and ICMP-aborted requests, so it is "
        "always at least ListenOverflows. Older netstat said 'SYNs to LISTEN sockets ignored'.",
        "tcp_listendrop() on every drop exit of tcp_conn_request and tcp_v4_syn_recv_sock; "
        "tcp_v4_conn_request (broadcast/multicast SYN); tcp_req_err",
        "§2.1, §2.3, §4.3, §11, §12",
        "LINUX_MIB_LISTENDROPS",
    ),
    tcp_ext(
        "TCPReqQFullDrop",
        RAW_NETSTAT,
        "A SYN arrived while the listener's SYN queue was full (more than backlog requests) and "
        "tcp_syncookies was 0, so it was dropped; ListenDrops rises with it.",
        "tcp_syn_flood_action, called from tcp_conn_request",
        "§2.1, §2.4, §11, §12",
        "LINUX_MIB_TCPREQQFULLDROP",
    ),
    tcp_ext(
        "TCPReqQFullDoCookies",
        RAW_NETSTAT,
        "The kernel decided to answer a SYN with a cookie: the SYN queue was full with "
        "tcp_syncookies=1, or tcp_syncookies=2 (then for every SYN). Counted even if the SYN is then "
        "dropped because the accept queue is full.",
        "tcp_syn_flood_action, called from tcp_conn_request",
        "§2.1, §2.4, §7.5, §11, §12",
        "LINUX_MIB_TCPREQQFULLDOCOOKIES",
    ),
    tcp_ext(
        "SyncookiesSent",
        "{n} SYN cookies sent",
        "SYN-ACKs sent with a cookie as initial sequence number (no state kept on the server).",
        "cookie_init_sequence, via tcp_conn_request",
        "§2.4, §7.5, §11",
        "LINUX_MIB_SYNCOOKIESSENT",
    ),
    tcp_ext(
        "SyncookiesRecv",
        "{n} SYN cookies received",
        "ACKs that carried a valid cookie and so recreated a connection; the child is then subject to "
        "the accept-queue limit.",
        "cookie_v4_check / cookie_v6_check via cookie_tcp_check",
        "§6.1, §7.5, §11",
        "LINUX_MIB_SYNCOOKIESRECV",
    ),
    tcp_ext(
        "SyncookiesFailed",
        "{n} invalid SYN cookies received",
        "ACKs at a listener that had sent cookies recently but whose cookie did not validate (expired, "
        "forged, or a stray ACK).",
        "cookie_v4_check / cookie_v6_check via cookie_tcp_check",
        "§6.1, §7.4, §11",
        "LINUX_MIB_SYNCOOKIESFAILED",
    ),
    tcp_ext(
        "TCPSynRetrans",
        RAW_NETSTAT,
        "SYN and SYN-ACK retransmissions: the client resending its SYN and the server resending a "
        "SYN-ACK for a half-open request. Each also adds to Tcp RetransSegs.",
        "__tcp_retransmit_skb (client SYN), tcp_rtx_synack (server SYN-ACK)",
        "§3.2, §5.1, §11",
        "LINUX_MIB_TCPSYNRETRANS",
    ),
    tcp_ext(
        "TCPTimeouts",
        RAW_NETSTAT,
        "Retransmission-timer firings: every request-timer firing on the server (even when it only "
        "expires the request) and every RTO on a full socket. Older net-tools printed it as "
        "'N other TCP timeouts'.",
        "tcp_syn_ack_timeout (request timer), tcp_retransmit_timer (RTO)",
        "§3.2, §5.1, §11",
        "LINUX_MIB_TCPTIMEOUTS",
    ),
    tcp_ext(
        "TCPLossProbes",
        RAW_NETSTAT,
        "Tail loss probes sent (TLP, since 3.10): when the last data sent stays unacknowledged for "
        "about two round trips (plus the minimum RTO when one segment is in flight), the kernel sends "
        "one new segment or retransmits the last one instead of waiting for the RTO. A client whose "
        "data a full accept queue dropped retransmits it this way first; the later retries are "
        "RTOs (TCPTimeouts). Needs SACK and tcp_early_retrans 3 or 4 (the default is 3); a "
        "retransmitted probe also counts in RetransSegs.",
        "tcp_send_loss_probe (net/ipv4/tcp_output.c, at probe_sent), run by the loss-probe timer "
        "tcp_schedule_loss_probe arms; named in net/ipv4/proc.c snmp4_net_list",
        "§5.4, §11",
        "LINUX_MIB_TCPLOSSPROBES",
    ),
    tcp_ext(
        "EmbryonicRsts",
        "{n} resets received for embryonic SYN_RECV sockets",
        "Half-open requests torn down by a RST or unexpected SYN from the client, or by "
        "tcp_abort_on_overflow=1 answering an overflowing final ACK with a RST. The netstat wording "
        "('received') misses the second case.",
        "tcp_check_req (embryonic reset)",
        "§4.2, §4.4, §11, §12",
        "LINUX_MIB_EMBRYONICRSTS",
    ),
    tcp_ext(
        "TCPDeferAcceptDrop",
        RAW_NETSTAT,
        "Bare final ACKs dropped because the listener uses TCP_DEFER_ACCEPT and is waiting for data.",
        "tcp_check_req",
        "§3.6, §11",
        "LINUX_MIB_TCPDEFERACCEPTDROP",
    ),
    tcp_ext(
        "TCPSYNChallenge",
        RAW_NETSTAT,
        "An established socket received an in-window SYN, typically a retransmitted SYN-ACK because the "
        "server dropped the client's final ACK; the socket answers with a challenge ACK.",
        "tcp_validate_incoming (syn_challenge)",
        "§5.4, §11",
        "LINUX_MIB_TCPSYNCHALLENGE",
    ),
    tcp_ext(
        "TCPChallengeACK",
        RAW_NETSTAT,
        "Challenge ACKs actually sent (RFC 5961), after the per-socket tcp_invalid_ratelimit and the "
        "namespace-wide tcp_challenge_ack_limit (off by default). These ACKs are what let a server "
        "complete a handshake whose final ACK it dropped.",
        "tcp_send_challenge_ack",
        "§5.4, §11",
        "LINUX_MIB_TCPCHALLENGEACK",
    ),
    tcp_ext(
        "TCPACKSkippedSynRecv",
        RAW_NETSTAT,
        "Replies a half-open request did not send because of tcp_invalid_ratelimit, e.g. a SYN-ACK for "
        "a quickly retransmitted SYN.",
        "tcp_check_req (rate-limited reply via tcp_oow_rate_limited)",
        "§4.1, §11",
        "LINUX_MIB_TCPACKSKIPPEDSYNRECV",
    ),
    tcp_ext(
        "TCPTimeWaitOverflow",
        RAW_NETSTAT,
        "Sockets that should have entered TIME_WAIT but were destroyed at once because the namespace "
        "already held tcp_max_tw_buckets entries; later segments for that connection get a RST.",
        "tcp_time_wait, when inet_twsk_alloc refuses",
        "§8.2, §11",
        "LINUX_MIB_TCPTIMEWAITOVERFLOW",
    ),
    tcp_ext(
        "TW",
        "{n} TCP sockets finished time wait in fast timer",
        "TIME_WAIT timers armed with a timeout longer than 4 s (normally the 60 s TIME_WAIT). It counts "
        "when the timer is armed, not when the entry expires, whatever the netstat wording says.",
        "inet_twsk_schedule via tcp_time_wait",
        "§8.3, §11",
        "LINUX_MIB_TIMEWAITED",
    ),
    tcp_ext(
        "TWKilled",
        RAW_NETSTAT,
        "TIME_WAIT timers armed with a timeout of 4 s or less (short FIN_WAIT2 lifetimes of orphans). "
        "Counted when armed, not at expiry.",
        "inet_twsk_schedule via tcp_time_wait",
        "§8.3, §11",
        "LINUX_MIB_TIMEWAITKILLED",
    ),
    tcp_ext(
        "TWRecycled",
        "{n} time wait sockets recycled by time stamp",
        "TIME_WAIT entries taken over by an outgoing connect() under tcp_tw_reuse (or for a port fixed "
        "by bind()). Nothing to do with the removed tcp_tw_recycle despite the wording.",
        "__inet_check_established via tcp_twsk_unique",
        "§8.5, §11",
        "LINUX_MIB_TIMEWAITRECYCLED",
    ),
    tcp_ext(
        "TCPAbortOnMemory",
        "{n} connections aborted due to memory pressure",
        "Connections reset because there were too many orphans (tcp_max_orphans) or TCP memory was over "
        "its hard limit when they were closed or retransmitted.",
        "__tcp_close, tcp_out_of_resources",
        "§8.8, §11",
        "LINUX_MIB_TCPABORTONMEMORY",
    ),
    tcp_ext(
        "TCPAbortOnTimeout",
        "{n} connections aborted due to timeout",
        "Connections given up after their retransmissions ran out: connect() failing with ETIMEDOUT "
        "after tcp_syn_retries, tcp_retries2 on established sockets, unanswered keepalives.",
        "tcp_write_err, from tcp_write_timeout / tcp_keepalive_timer",
        "§5.1, §11",
        "LINUX_MIB_TCPABORTONTIMEOUT",
    ),
    tcp_ext(
        "TCPAbortOnLinger",
        "{n} connections aborted after user close in linger timeout",
        "Orphans reset instead of waiting in FIN_WAIT2 because TCP_LINGER2 was negative.",
        "__tcp_close, tcp_keepalive_timer (TCP_LINGER2 < 0; from memory)",
        "§8.4",
        "LINUX_MIB_TCPABORTONLINGER",
    ),
    tcp_ext(
        "TCPAbortOnData",
        "{n} connections reset due to unexpected data",
        "Connections reset because data arrived after the application had shut the socket down "
        "(FIN_WAIT1/FIN_WAIT2), or closed with SO_LINGER and a zero timeout.",
        "tcp_rcv_state_process (data after shutdown), __tcp_close (zero linger); from memory",
        "§11 (not detailed there)",
        "LINUX_MIB_TCPABORTONDATA",
    ),
    tcp_ext(
        "TCPAbortOnClose",
        "{n} connections reset due to early user close",
        "Connections reset because the application closed the socket while received data was still unread.",
        "__tcp_close (from memory)",
        "§11 (not detailed there)",
        "LINUX_MIB_TCPABORTONCLOSE",
    ),
    tcp_ext(
        "TCPMigrateReqSuccess",
        RAW_NETSTAT,
        "Requests or not-yet-accepted children moved to another listener of the same SO_REUSEPORT group "
        "when their listener closed (needs tcp_migrate_req=1 or a BPF program).",
        "reqsk_timer_handler, inet_csk_listen_stop, the request path of tcp_v4_rcv (sites from memory)",
        "§4, §11",
        "LINUX_MIB_TCPMIGRATEREQSUCCESS",
    ),
    tcp_ext(
        "TCPMigrateReqFailure",
        RAW_NETSTAT,
        "Reuseport migrations that failed (no target listener or allocation failure); the request is "
        "dropped.",
        "same sites as TCPMigrateReqSuccess",
        "§4, §11",
        "LINUX_MIB_TCPMIGRATEREQFAILURE",
    ),
    tcp_ext(
        "TCPBacklogDrop",
        RAW_NETSTAT,
        "Packets dropped because a socket's backlog (segments queued while a process holds the socket "
        "lock) exceeded its receive and send buffer budget. Not an accept-queue counter, although "
        "one seed article presents it as one.",
        "tcp_add_backlog (from memory)",
        "not covered by kernel-model (from memory)",
        "LINUX_MIB_TCPBACKLOGDROP",
    ),
    tcp_snmp(
        "ActiveOpens",
        "{n} active connection openings",
        "connect() calls that sent a SYN (transitions CLOSE -> SYN_SENT), successful or not.",
        "tcp_connect",
        "§5.1, §11",
        "TCP_MIB_ACTIVEOPENS",
    ),
    tcp_snmp(
        "PassiveOpens",
        "{n} passive connection openings",
        "Children created by listeners when a handshake completed (LISTEN -> SYN_RECV, cookies "
        "included), whether or not they were accepted later.",
        "tcp_create_openreq_child",
        "§4.3, §11",
        "TCP_MIB_PASSIVEOPENS",
    ),
    tcp_snmp(
        "AttemptFails",
        "{n} failed connection attempts",
        "Connections that died in SYN_SENT or SYN_RECV (refused, timed out, reset), plus requests torn "
        "down by a RST or SYN from the client.",
        "tcp_done (from SYN_SENT/SYN_RECV), tcp_check_req (RST/SYN on a request)",
        "§4.2, §11",
        "TCP_MIB_ATTEMPTFAILS",
    ),
    tcp_snmp(
        "EstabResets",
        "{n} connection resets received",
        "Connections that went from ESTABLISHED or CLOSE_WAIT straight to CLOSE, usually because a RST "
        "arrived (e.g. the server's abort_on_overflow reset seen by the client).",
        "tcp_set_state (ESTABLISHED/CLOSE_WAIT -> CLOSE)",
        "§4.4, §11",
        "TCP_MIB_ESTABRESETS",
    ),
    tcp_snmp(
        "CurrEstab",
        "{n} connections established",
        "A gauge, not a counter: sockets currently ESTABLISHED. Linux decrements it on the move to "
        "CLOSE_WAIT, unlike RFC 1213 (from memory).",
        "tcp_set_state (increment on entering ESTABLISHED, decrement on leaving it)",
        "§11 (not detailed there)",
        "TCP_MIB_CURRESTAB",
    ),
    tcp_snmp(
        "InSegs",
        "{n} segments received",
        "TCP segments received, including erroneous ones.",
        "tcp_v4_rcv / tcp_v6_rcv",
        "§11 (not detailed there)",
        "TCP_MIB_INSEGS",
    ),
    tcp_snmp(
        "OutSegs",
        "{n} segments sent out",
        "TCP segments sent, excluding retransmissions.",
        "tcp_transmit_skb path and RST/ACK senders",
        "§11 (not detailed there)",
        "TCP_MIB_OUTSEGS",
    ),
    tcp_snmp(
        "RetransSegs",
        "{n} segments retransmitted",
        "Segments retransmitted, including SYNs and SYN-ACKs.",
        "__tcp_retransmit_skb, tcp_rtx_synack",
        "§3.2, §5.1, §11",
        "TCP_MIB_RETRANSSEGS",
    ),
    tcp_snmp(
        "InErrs",
        "{n} bad segments received",
        "Segments received with errors (bad checksum, bad header, dropped for lack of memory).",
        "tcp_v4_rcv / tcp_v6_rcv error paths",
        "§11 (not detailed there)",
        "TCP_MIB_INERRS",
    ),
    tcp_snmp(
        "OutRsts",
        "{n} resets sent",
        "RST segments sent: replies to segments for unknown connections, abort_on_overflow, "
        "TIME_WAIT-overflow leftovers, aborted connections.",
        "tcp_v4_send_reset / tcp_send_active_reset",
        "§4.4, §6.2, §8.2, §11",
        "TCP_MIB_OUTRSTS",
    ),
)
