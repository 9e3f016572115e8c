"""One function per finding. Each takes the two samples and the rates between them.

Thresholds are named constants; every explanation cites the kernel-model section of the
mechanism, and every remedy is an exact sysctl line (with its namespace) or application change.
tcpq never applies a remedy.
"""

from collections.abc import Callable

from tcpq.types import Finding, Listener, QueuedSocket, Rates, Severity, Snapshot

Rule = Callable[[Snapshot, Snapshot, Rates], list[Finding]]

CLOSE_WAIT_PILEUP = 20  # CLOSE_WAIT sockets of one process, in both samples
TIME_WAIT_SHARE = 0.5  # of the ephemeral port range towards one destination
ORPHAN_SHARE = 0.5  # of tcp_max_orphans
QUEUED_MIN_BYTES = 1  # Recv-Q or Send-Q present in both samples
DEFAULT_SOMAXCONN = 4096
WIDE_PORT_RANGE = '"1024 65535"'


def _delta(rates: Rates, name: str) -> int:
    return rates.counter_deltas.get(name, 0)


def _where(snapshot: Snapshot) -> str:
    return "the host namespace" if snapshot.netns == "self" else f"network namespace {snapshot.netns}"


def _sysctl_line(snapshot: Snapshot, name: str, value: object) -> str:
    prefix = "" if snapshot.netns == "self" else f"ip netns exec {snapshot.netns} "
    return f"{prefix}sysctl -w {name}={value}"


def _listener_ref(listener: Listener) -> dict[str, object]:
    return {"address": listener.address, "port": listener.port}


def _process_ref(listener: Listener) -> dict[str, object] | None:
    if not listener.processes:
        return None
    first = listener.processes[0]
    return {"pid": first.pid, "comm": first.comm}


def _owner(listener: Listener) -> str:
    if not listener.processes:
        return "an unknown process"
    return ", ".join(f"{p.comm} (pid {p.pid})" for p in listener.processes[:3])


def _drops_grew(before: Snapshot, after: Snapshot) -> list[tuple[Listener, int]]:
    earlier = {(lst.cookie, lst.address, lst.port): lst.drops for lst in before.listeners}
    grown: list[tuple[Listener, int]] = []
    for listener in after.listeners:
        old = earlier.get((listener.cookie, listener.address, listener.port))
        if listener.drops is not None and old is not None and listener.drops > old:
            grown.append((listener, listener.drops - old))
    return grown


def accept_queue_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    overflows = _delta(rates, "TcpExtListenOverflows")
    if overflows == 0:
        return []
    findings = []
    somaxconn = after.sysctl.get("net.core.somaxconn")
    for listener, dropped in _drops_grew(before, after):
        wanted = max(listener.accept_queue_limit * 4, 128)
        clamp = (
            f" and raise {_sysctl_line(after, 'net.core.somaxconn', wanted)} first: the backlog is capped there"
            if listener.clamped_by_somaxconn
            else ""
        )
        findings.append(
            Finding(
                id="accept-queue-overflow",
                severity=Severity.CRITICAL,
                title=f"accept queue of {listener.address}:{listener.port} overflows ({_owner(listener)})",
                evidence={
                    "listener_drops": dropped,
                    "drops_per_s": round(dropped / rates.interval_s, 2),
                    "accept_queue": listener.accept_queue,
                    "accept_queue_limit": listener.accept_queue_limit,
                    "ListenOverflows": overflows,
                    "ListenDrops": _delta(rates, "TcpExtListenDrops"),
                    "somaxconn": somaxconn,
                },
                explanation=(
                    "The application does not call accept() fast enough: the accept queue holds backlog+1 "
                    "connections and is full. New SYNs are dropped silently and clients retry after 1, 2, 3 s "
                    "(connect latency); final ACKs that find the queue full are dropped too, leaving clients "
                    "that think they are connected (kernel-model §1.3, §2.5, §4.4)."
                ),
                remedy=(
                    f"Accept faster (more workers/threads, less work before accept()) or give the listener a "
                    f"larger backlog in the application, e.g. nginx `listen {listener.port} backlog={wanted};`, "
                    f"Java `new ServerSocket(port, {wanted})`{clamp}."
                ),
                netns=after.netns,
                listener=_listener_ref(listener),
                process=_process_ref(listener),
                references=["kernel-model §1.3", "kernel-model §2.5", "kernel-model §4.4"],
            )
        )
    if not findings:
        findings.append(
            Finding(
                id="accept-queue-overflow",
                severity=Severity.CRITICAL,
                title=f"an accept queue overflowed in {_where(after)} (listener not identified)",
                evidence={"ListenOverflows": overflows, "ListenDrops": _delta(rates, "TcpExtListenDrops")},
                explanation="ListenOverflows grew but no listener's sk_drops did (it may have closed).",
                remedy="Run `tcpq status --interval 1` while it happens to see which listener drops.",
                netns=after.netns,
                references=["kernel-model §11"],
            )
        )
    return findings


def backlog_clamped(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    somaxconn = after.sysctl.get("net.core.somaxconn")
    if not isinstance(somaxconn, int):
        return []
    findings = []
    for listener in after.listeners:
        if not listener.clamped_by_somaxconn or somaxconn >= DEFAULT_SOMAXCONN:
            continue
        busy = listener.full or (listener.drops_per_s or 0) > 0
        findings.append(
            Finding(
                id="backlog-clamped-by-somaxconn",
                severity=Severity.WARNING,
                title=f"{listener.address}:{listener.port} backlog is capped by net.core.somaxconn = {somaxconn}",
                evidence={
                    "accept_queue_limit": listener.accept_queue_limit,
                    "somaxconn": somaxconn,
                    "accept_queue": listener.accept_queue,
                    "full": listener.full,
                    "busy": busy,
                },
                explanation=(
                    "listen() silently lowers any backlog above the namespace's net.core.somaxconn (negative "
                    f"values become somaxconn too). The limit equals somaxconn ({somaxconn}, below the 4096 "
                    "default since 5.4), so the application probably asked for more (kernel-model §1.1, §9)."
                ),
                remedy=(
                    f"{_sysctl_line(after, 'net.core.somaxconn', DEFAULT_SOMAXCONN)} (takes effect at the next "
                    "listen(): restart or reload the service)."
                ),
                netns=after.netns,
                listener=_listener_ref(listener),
                process=_process_ref(listener),
                references=["kernel-model §1.1", "kernel-model §9"],
            )
        )
    return findings


def syn_queue_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    findings = []
    dropped = _delta(rates, "TcpExtTCPReqQFullDrop")
    cookies = _delta(rates, "TcpExtTCPReqQFullDoCookies")
    full = [lst for lst in after.listeners if lst.syn_recv > lst.accept_queue_limit]
    where = (
        ", ".join(f"{lst.address}:{lst.port} ({lst.syn_recv} SYN-RECV)" for lst in full[:5]) or "a listener"
    )
    if dropped:
        findings.append(
            Finding(
                id="syn-queue-overflow-drop",
                severity=Severity.CRITICAL,
                title=f"SYN queue full and SYN cookies off: SYNs dropped at {where}",
                evidence={"TCPReqQFullDrop": dropped, "ListenDrops": _delta(rates, "TcpExtListenDrops")},
                explanation=(
                    "A listener admits at most backlog+1 half-open requests (6.13+; backlog before). With "
                    "tcp_syncookies=0 further SYNs are dropped and clients wait for their SYN retry "
                    "(kernel-model §2.1, §2.2, §7)."
                ),
                remedy=(
                    f"{_sysctl_line(after, 'net.ipv4.tcp_syncookies', 1)}; and/or a larger listen backlog "
                    "(the SYN queue limit is the backlog, not tcp_max_syn_backlog)."
                ),
                netns=after.netns,
                references=["kernel-model §2.2", "kernel-model §15a"],
            )
        )
    if cookies and after.sysctl.get("net.ipv4.tcp_syncookies") != 2:
        findings.append(
            Finding(
                id="syn-queue-overflow-cookies",
                severity=Severity.WARNING,
                title=f"SYN queue full: the kernel is answering with SYN cookies at {where}",
                evidence={
                    "TCPReqQFullDoCookies": cookies,
                    "SyncookiesSent": _delta(rates, "TcpExtSyncookiesSent"),
                    "SyncookiesRecv": _delta(rates, "TcpExtSyncookiesRecv"),
                },
                explanation=(
                    "More half-open requests than the listen backlog allows: connections still complete "
                    "statelessly, but a cookie loses window scaling, SACK and ECN unless the client used "
                    "timestamps, and no SYN-ACK is retransmitted (kernel-model §7)."
                ),
                remedy="Raise the application's listen backlog (and net.core.somaxconn if it caps it).",
                netns=after.netns,
                references=["kernel-model §7"],
            )
        )
    return findings


def syn_flood(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    failed = _delta(rates, "TcpExtSyncookiesFailed")
    sent = _delta(rates, "TcpExtSyncookiesSent")
    received = _delta(rates, "TcpExtSyncookiesRecv")
    half_open = after.states.get("SYN_RECV", 0)
    if not ((sent > 0 and received * 2 < sent) or failed > 0):
        return []
    return [
        Finding(
            id="syn-flood-suspected",
            severity=Severity.CRITICAL,
            title=f"possible SYN flood in {_where(after)}: cookies sent, few answered",
            evidence={
                "SYN_RECV": half_open,
                "SyncookiesSent": sent,
                "SyncookiesRecv": received,
                "SyncookiesFailed": failed,
            },
            explanation=(
                "Many SYNs whose senders never complete the handshake (spoofed sources) fill the SYN "
                "queue; SYN cookies keep legitimate clients connecting (kernel-model §2.1, §7)."
            ),
            remedy=(
                f"Keep {_sysctl_line(after, 'net.ipv4.tcp_syncookies', 1)}; filter the sources upstream; "
                "a lower net.ipv4.tcp_synack_retries shortens the life of spoofed requests."
            ),
            netns=after.netns,
            references=["kernel-model §3", "kernel-model §7"],
        )
    ]


def close_wait_pileup(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    earlier = {pile.pid for pile in before.close_wait if pile.count >= CLOSE_WAIT_PILEUP}
    findings = []
    for pile in after.close_wait:
        if pile.count < CLOSE_WAIT_PILEUP or pile.pid not in earlier:
            continue
        peers = ", ".join(f"{p.address}:{p.port} ×{p.count}" for p in pile.peers)
        findings.append(
            Finding(
                id="close-wait-pileup",
                severity=Severity.WARNING,
                title=f"{pile.comm} (pid {pile.pid}) holds {pile.count} CLOSE_WAIT sockets",
                evidence={"close_wait": pile.count, "peers": [vars(p) for p in pile.peers]},
                explanation=(
                    "The peers closed their side; the application never called close() on these sockets. "
                    "The kernel cannot help: this is an application bug (a missing close on an error path, "
                    f"a leaked connection pool). Peers: {peers}."
                ),
                remedy=f"Fix {pile.comm} to close sockets once read() returns 0; restarting it frees them now.",
                netns=after.netns,
                process={"pid": pile.pid, "comm": pile.comm},
                references=["tcpq explain close_wait"],
            )
        )
    return findings


def time_wait_pressure(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    port_range = after.sysctl.get("net.ipv4.ip_local_port_range")
    if not isinstance(port_range, tuple):
        return []
    ports = port_range[1] - port_range[0] + 1
    findings = []
    for dest in after.time_wait_by_destination:
        if dest.count < TIME_WAIT_SHARE * ports:
            continue
        findings.append(
            Finding(
                id="time-wait-port-exhaustion-risk",
                severity=Severity.WARNING,
                title=f"{dest.count} TIME_WAIT sockets towards {dest.address}:{dest.port} "
                f"({dest.count / ports:.0%} of the {ports} ephemeral ports)",
                evidence={"time_wait": dest.count, "ip_local_port_range": list(port_range), "ports": ports},
                explanation=(
                    "Each short connection this host closes first keeps its local port in TIME_WAIT for 60 s "
                    "(not tunable). Towards one destination only the ephemeral range is available; when it "
                    "is used up connect() fails with EADDRNOTAVAIL (kernel-model §8.1, §8.5)."
                ),
                remedy=(
                    "Reuse connections (keep-alive, pooling); "
                    f"{_sysctl_line(after, 'net.ipv4.ip_local_port_range', WIDE_PORT_RANGE)}; "
                    f"{_sysctl_line(after, 'net.ipv4.tcp_tw_reuse', 1)} (outgoing connections with timestamps "
                    "only; the default 2 covers loopback)."
                ),
                netns=after.netns,
                references=["kernel-model §8"],
            )
        )
    return findings


def tw_buckets_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    overflow = _delta(rates, "TcpExtTCPTimeWaitOverflow")
    if not overflow:
        return []
    limit = after.sysctl.get("net.ipv4.tcp_max_tw_buckets")
    doubled = limit * 2 if isinstance(limit, int) else 262144
    return [
        Finding(
            id="tw-buckets-overflow",
            severity=Severity.WARNING,
            title=f"TIME_WAIT table full: {overflow} sockets closed without TIME_WAIT",
            evidence={
                "TCPTimeWaitOverflow": overflow,
                "tcp_max_tw_buckets": limit,
                "time_wait": after.states.get("TIME_WAIT", 0),
            },
            explanation=(
                "tcp_max_tw_buckets caps TIME_WAIT sockets per namespace; beyond it a closing socket is "
                "destroyed at once (6.18 logs nothing), so late segments are answered with RST "
                "(kernel-model §8.2)."
            ),
            remedy=(
                f"{_sysctl_line(after, 'net.ipv4.tcp_max_tw_buckets', doubled)} if memory allows; "
                "better, fewer short connections."
            ),
            netns=after.netns,
            references=["kernel-model §8.2"],
        )
    ]


def orphans_near_limit(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    limit = after.sysctl.get("net.ipv4.tcp_max_orphans")
    aborted = _delta(rates, "TcpExtTCPAbortOnMemory")
    if not isinstance(limit, int) or (after.orphans < ORPHAN_SHARE * limit and not aborted):
        return []
    return [
        Finding(
            id="orphans-near-limit",
            severity=Severity.WARNING,
            title=f"{after.orphans} orphaned sockets (tcp_max_orphans {limit})",
            evidence={"orphans": after.orphans, "tcp_max_orphans": limit, "TCPAbortOnMemory": aborted},
            explanation=(
                "Closed sockets still sending their last data or FIN belong to no process. Past "
                "tcp_max_orphans (global) the kernel resets them: 'too many orphaned sockets' "
                "(kernel-model §8.8)."
            ),
            remedy=_sysctl_line(after, "net.ipv4.tcp_max_orphans", limit * 2),
            netns=after.netns,
            references=["kernel-model §8.8"],
        )
    ]


def queued_sockets(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    def key(sock: QueuedSocket) -> tuple[str, int, str, int]:
        return (sock.local, sock.local_port, sock.remote, sock.remote_port)

    earlier = {key(sock) for sock in before.queued}
    persistent = [sock for sock in after.queued if key(sock) in earlier]
    findings = []
    slow_readers = [s for s in persistent if s.recv_q >= QUEUED_MIN_BYTES]
    slow_peers = [s for s in persistent if s.send_q >= QUEUED_MIN_BYTES]
    for kind, socks, why in (
        ("slow-reader", slow_readers, "data has arrived but the local application does not read it (Recv-Q)"),
        ("slow-peer", slow_peers, "sent data is not acknowledged: the peer or the path is slow (Send-Q)"),
    ):
        if not socks:
            continue
        top = socks[0]
        owner = top.processes[0] if top.processes else None
        findings.append(
            Finding(
                id=f"established-{kind}",
                severity=Severity.WARNING,
                title=f"{len(socks)} established sockets with a persistent {'Recv-Q' if kind == 'slow-reader' else 'Send-Q'}",
                evidence={
                    "sockets": [
                        {
                            "local": f"{s.local}:{s.local_port}",
                            "remote": f"{s.remote}:{s.remote_port}",
                            "recv_q": s.recv_q,
                            "send_q": s.send_q,
                            "processes": [vars(p) for p in s.processes],
                        }
                        for s in socks[:10]
                    ]
                },
                explanation=f"In both samples {why}.",
                remedy=(
                    "Find out why the application stalls (CPU, locks, a blocked event loop)."
                    if kind == "slow-reader"
                    else "Check the peer's load and the path (loss, a small receive window on the peer)."
                ),
                netns=after.netns,
                process={"pid": owner.pid, "comm": owner.comm} if owner else None,
                references=["kernel-model §10.1"],
            )
        )
    return findings


def abort_on_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    if after.sysctl.get("net.ipv4.tcp_abort_on_overflow") != 1:
        return []
    return [
        Finding(
            id="abort-on-overflow-enabled",
            severity=Severity.INFO,
            title="tcp_abort_on_overflow = 1: overflowing handshakes are reset",
            evidence={"tcp_abort_on_overflow": 1, "EmbryonicRsts": _delta(rates, "TcpExtEmbryonicRsts")},
            explanation=(
                "When a final ACK finds the accept queue full, the client (already connected) gets a RST "
                "and ECONNRESET at once instead of being retried by SYN-ACK retransmission. It makes an "
                "overload visible to clients but turns a short burst into errors; it does not help SYNs, "
                "which are dropped on a full queue either way (kernel-model §4.4, §2.5)."
            ),
            remedy=f"Usually better: {_sysctl_line(after, 'net.ipv4.tcp_abort_on_overflow', 0)} and fix the accept rate.",
            netns=after.netns,
            references=["kernel-model §4.4"],
        )
    ]


def syncookies_disabled(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    if after.sysctl.get("net.ipv4.tcp_syncookies") != 0:
        return []
    return [
        Finding(
            id="syncookies-disabled",
            severity=Severity.WARNING,
            title="tcp_syncookies = 0: a full SYN queue drops new clients",
            evidence={"tcp_syncookies": 0},
            explanation=(
                "Without cookies a SYN flood (or a burst larger than the listen backlog of half-open "
                "requests) makes the kernel drop SYNs (TCPReqQFullDrop); the default is 1 (kernel-model §7)."
            ),
            remedy=_sysctl_line(after, "net.ipv4.tcp_syncookies", 1),
            netns=after.netns,
            references=["kernel-model §7"],
        )
    ]


RULES: tuple[Rule, ...] = (
    accept_queue_overflow,
    backlog_clamped,
    syn_queue_overflow,
    syn_flood,
    close_wait_pileup,
    time_wait_pressure,
    tw_buckets_overflow,
    orphans_near_limit,
    queued_sockets,
    abort_on_overflow,
    syncookies_disabled,
)

SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def diagnose(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    findings = [finding for rule in RULES for finding in rule(before, after, rates)]
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
