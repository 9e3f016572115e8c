"""Rules about connections and settings: CLOSE_WAIT, TIME_WAIT, orphans, stuck data, sysctls."""

from tcpq.doctor import evidence as ev
from tcpq.doctor import remedies as rm
from tcpq.types import AppChange, CloseWaitPile, Finding, QueuedSocket, Rates, Remedy, Severity, Snapshot

# CLOSE_WAIT sockets of one program (all its processes) in both samples. A healthy server closes
# within milliseconds of the peer's FIN, so a sample catches a few at most; 20 that stay are a
# leak (a fork-per-connection server leaks one per child, hence per program, not per process).
CLOSE_WAIT_PILEUP = 20
TIME_WAIT_SHARE = 0.5  # of the ephemeral port range towards one destination: half used up
ORPHAN_SHARE = 0.5  # of tcp_max_orphans: half way to "too many orphaned sockets"
EXAMPLES = 10  # sockets listed in a finding's evidence ("N more" says the rest)
WIDE_PORT_RANGE = (1024, 65535)


def close_wait_pileup(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    earlier = {pile.comm for pile in before.close_wait if pile.count >= CLOSE_WAIT_PILEUP}
    return [
        _close_wait_finding(after, pile)
        for pile in after.close_wait
        if pile.count >= CLOSE_WAIT_PILEUP and pile.comm in earlier
    ]


def _close_wait_finding(after: Snapshot, pile: CloseWaitPile) -> Finding:
    peers = ", ".join(f"{p.address}:{p.port} ×{p.count}" for p in pile.peers)
    stopped = [p for p in pile.processes if p.stopped]
    who = f"{pile.comm} ({pile.process_count} processes)" if pile.process_count > 1 else pile.comm
    if stopped:
        cause = f"{who} is stopped (state T): it closes nothing until it is resumed."
        remedy = Remedy(app=rm.resume_change(stopped))
    else:
        cause = (
            "The application never called close() on them: a missing close on an error path, a leaked "
            "connection pool, or children of a fork-per-connection server that outlive their peer."
        )
        remedy = Remedy(
            advice="Restarting it frees them now.",
            app=AppChange(
                pile.processes[0].runtime if pile.processes else None,
                f"make {pile.comm} close a socket once read() returns 0 (the peer's FIN)",
            ),
        )
    return Finding(
        id="close-wait-pileup",
        severity=Severity.WARNING,
        title=f"{who} holds {pile.count} CLOSE_WAIT sockets",
        evidence={
            "close_wait": pile.count,
            "processes": pile.process_count,
            "pids": [p.pid for p in pile.processes],
            "local_ports": pile.local_ports,
            "peers": [{"address": p.address, "port": p.port, "count": p.count} for p in pile.peers],
        },
        explanation=f"The peers closed their side; {cause} Peers: {peers}.",
        remedy=remedy,
        netns=after.netns,
        process=rm.process_ref(pile.processes[0] if pile.processes else None),
        references=["tcpq explain close_wait"],
    )


def time_wait_pressure(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    port_range = after.sysctl.get("net.ipv4.ip_local_port_range")
    if not isinstance(port_range, tuple):
        return []
    ports = port_range[1] - port_range[0] + 1
    findings = []
    for dest in after.time_wait_by_destination:
        if dest.count < TIME_WAIT_SHARE * ports:
            continue
        wider = (
            []
            if port_range == WIDE_PORT_RANGE
            else [rm.sysctl_change(after, "net.ipv4.ip_local_port_range", WIDE_PORT_RANGE)]
        )
        reuse = (
            []
            if after.sysctl.get("net.ipv4.tcp_tw_reuse") == 1
            else [rm.sysctl_change(after, "net.ipv4.tcp_tw_reuse", 1)]
        )
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
                remedy=Remedy(
                    advice="Reuse connections (keep-alive, pooling). tcp_tw_reuse=1 applies to outgoing "
                    "connections with timestamps; the default 2 covers loopback only.",
                    sysctls=wider + reuse,
                ),
                netns=after.netns,
                references=["kernel-model §8"],
            )
        )
    return findings


def tw_buckets_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    overflow = ev.delta(rates, "TcpExtTCPTimeWaitOverflow")
    limit = after.sysctl.get("net.ipv4.tcp_max_tw_buckets")
    if not overflow or not isinstance(limit, int):
        return []
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
            remedy=Remedy(
                advice="Better, fewer short connections; else a larger table if memory allows:",
                sysctls=[rm.sysctl_change(after, "net.ipv4.tcp_max_tw_buckets", limit * 2)],
            ),
            netns=after.netns,
            references=["kernel-model §8.2"],
        )
    ]


def orphans_near_limit(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    limit = after.sysctl.get("net.ipv4.tcp_max_orphans")
    aborted = ev.delta(rates, "TcpExtTCPAbortOnMemory")
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
            remedy=Remedy(sysctls=[rm.sysctl_change(after, "net.ipv4.tcp_max_orphans", limit * 2)]),
            netns=after.netns,
            references=["kernel-model §8.8"],
        )
    ]


def _socket_example(sock: QueuedSocket) -> dict[str, object]:
    return {
        "local": f"{sock.local}:{sock.local_port}",
        "remote": f"{sock.remote}:{sock.remote_port}",
        "recv_q": sock.recv_q,
        "send_q": sock.send_q,
        "processes": [{"pid": p.pid, "comm": p.comm} for p in sock.processes],
    }


def queued_sockets(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    """Data that stays unread (Recv-Q) or unacknowledged (Send-Q) across the interval.

    Left out, because another finding explains them: children not accepted yet (the accept
    queue's) and clients of this namespace's own listeners (the peer is here, not on the path)."""
    earlier = {ev.queued_key(sock) for sock in before.queued}
    local_clients = {
        ev.queued_key(sock) for socks in ev.clients_of_local_listeners(after).values() for sock in socks
    }
    readers = [s for s in after.queued if s.recv_q and s.accepted]
    peers = [s for s in after.queued if s.send_q and ev.queued_key(s) not in local_clients]
    findings = []
    for kind, socks, queue, why, advice in (
        (
            "slow-reader",
            readers,
            "Recv-Q",
            "data has arrived but the application that accepted these sockets does not read it",
            "Find out why the application stalls (CPU, locks, a blocked event loop, a stopped process).",
        ),
        (
            "slow-peer",
            peers,
            "Send-Q",
            "sent data is not acknowledged: the peer (on another host) or the path is slow",
            "Check the peer's load and the path (loss, a small receive window on the peer).",
        ),
    ):
        persistent = [s for s in socks if ev.queued_key(s) in earlier]
        if not persistent:
            continue
        owner = next((s.processes[0] for s in persistent if s.processes), None)
        findings.append(
            Finding(
                id=f"established-{kind}",
                severity=Severity.WARNING,
                title=f"{len(socks)} established sockets with data in {queue} ({len(persistent)} in both samples)",
                evidence={
                    "sockets": len(socks),
                    "in_both_samples": len(persistent),
                    "examples": [_socket_example(s) for s in persistent[:EXAMPLES]],
                    "more": max(0, len(persistent) - EXAMPLES),
                },
                explanation=f"In both samples {why}.",
                remedy=Remedy(advice=advice),
                netns=after.netns,
                process=rm.process_ref(owner),
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
            evidence={"tcp_abort_on_overflow": 1, "EmbryonicRsts": ev.delta(rates, "TcpExtEmbryonicRsts")},
            explanation=(
                "When a final ACK finds the accept queue full, the client (already connected) gets a RST "
                "and ECONNRESET at once instead of being retried by SYN-ACK retransmission. It makes an "
                "overload visible to clients but turns a short burst into errors; it does not help SYNs, "
                "which are dropped on a full queue either way (kernel-model §4.4, §2.5)."
            ),
            remedy=Remedy(
                advice="Usually better: retry instead of reset, and fix the accept rate.",
                sysctls=[rm.sysctl_change(after, "net.ipv4.tcp_abort_on_overflow", 0)],
            ),
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
            remedy=Remedy(sysctls=[rm.sysctl_change(after, "net.ipv4.tcp_syncookies", 1)]),
            netns=after.netns,
            references=["kernel-model §7"],
        )
    ]
