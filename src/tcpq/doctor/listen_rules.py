"""Rules about listeners: the accept queue, the SYN queue, SYN cookies, SYN floods.

Each rule is one function of the two samples and the rates between them; thresholds are named
constants with the reason for their value.
"""

from tcpq.doctor import evidence as ev
from tcpq.doctor import remedies as rm
from tcpq.kernel.resolve import sysctl_defaults
from tcpq.kernel.versions import parse_version
from tcpq.types import Finding, Listener, QueuedSocket, Rates, Remedy, Runtime, Severity, Snapshot

# A SYN flood's senders never answer: a cookie is "answered" when a valid ACK comes back
# (SyncookiesRecv). Legitimate clients answer within one RTT, and every retransmission of their
# first data is validated again, so Recv reaches or passes Sent even when the accept queue drops
# them. Fewer than half answered means most cookies went to sources that do not exist.
FLOOD_ANSWERED_SHARE = 0.5
# Below this many cookies in one interval the share says little: a handful of clients that
# gave up, or an interval boundary between the SYN-ACKs and their ACKs.
FLOOD_MIN_COOKIES = 20


def accept_queue_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    overflows = ev.delta(rates, "TcpExtListenOverflows")
    if overflows == 0:
        return []
    stuck = ev.clients_of_local_listeners(after)
    findings = [
        _overflow_finding(after, rates, listener, dropped, stuck.get(ev.listener_key(listener), []))
        for listener, dropped in ev.drops_grew(before, after)
    ]
    if findings:
        return findings
    return [
        Finding(
            id="accept-queue-overflow",
            severity=Severity.CRITICAL,
            title=f"an accept queue overflowed in {ev.where(after)} (listener not identified)",
            evidence={"ListenOverflows": overflows, "ListenDrops": ev.delta(rates, "TcpExtListenDrops")},
            explanation="ListenOverflows grew but no listener's sk_drops did (it may have closed).",
            remedy=Remedy(
                advice="Run `tcpq status --interval 1` while it happens to see which listener drops."
            ),
            netns=after.netns,
            references=["kernel-model §11"],
        )
    ]


def _overflow_finding(
    after: Snapshot, rates: Rates, listener: Listener, dropped: int, stuck_clients: list[QueuedSocket]
) -> Finding:
    stopped = rm.stopped_owners(listener)
    waiting = ev.waiting_in_accept_queue(after, listener)
    evidence: dict[str, object] = {
        "listener_drops": dropped,
        "drops_per_s": round(dropped / rates.interval_s, 2),
        "accept_queue": listener.accept_queue,
        "accept_queue_limit": listener.accept_queue_limit,
        "ListenOverflows": ev.delta(rates, "TcpExtListenOverflows"),
        "ListenDrops": ev.delta(rates, "TcpExtListenDrops"),
        "somaxconn": after.sysctl.get("net.core.somaxconn"),
        "waiting_with_data": len(waiting),
        "local_clients_stuck": len(stuck_clients),
    }
    retries = ev.syn_retry_times_s(after)
    retry = (
        f"clients with this kernel's settings resend their SYN {', '.join(f'{t:g}' for t in retries)} s "
        "after the first (connect latency)"
        if retries
        else "clients resend their SYN after their initial RTO (connect latency)"
    )
    why = (
        "The accept queue holds backlog+1 connections and is full. New SYNs are dropped silently and "
        f"{retry}; final ACKs that find the queue full are dropped too, leaving clients that think "
        "they are connected (kernel-model §1.3, §2.5, §4.4, §5.1)."
    )
    if waiting:
        why += f" {len(waiting)} connections in the queue already hold their request, unaccepted."
    if stuck_clients:
        why += (
            f" {len(stuck_clients)} clients on this host are among them: their handshake was dropped here, "
            "so their data waits unacknowledged (Send-Q)."
        )
    if stopped:
        evidence["stopped_pids"] = [p.pid for p in stopped]
        cause = f"{ev.owners_text(listener)} is stopped (state T) and accepts nothing until it is resumed. "
        remedy = Remedy(app=rm.resume_change(stopped), advice="Then look at why it was stopped.")
    else:
        cause = "The application does not call accept() fast enough. "
        remedy = rm.larger_backlog(
            after,
            listener,
            advice="Accept faster (more workers or threads, less work before accept()), or give the queue room:",
            applies="the backlog changes at the next listen(): restart or reload the service",
        )
    return Finding(
        id="accept-queue-overflow",
        severity=Severity.CRITICAL,
        title=f"accept queue of {ev.endpoint(listener)} overflows ({ev.owners_text(listener)})",
        evidence=evidence,
        explanation=cause + why,
        remedy=remedy,
        netns=after.netns,
        listener=rm.listener_ref(listener),
        process=rm.process_ref(rm.owner(listener)),
        references=["kernel-model §1.3", "kernel-model §2.5", "kernel-model §4.4"],
    )


def backlog_at_somaxconn(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    """A limit equal to somaxconn: listen() may have cut a larger request to it (the kernel keeps
    only the result, so tcpq cannot tell a clamp from a request of exactly somaxconn)."""
    somaxconn = after.sysctl.get("net.core.somaxconn")
    if not isinstance(somaxconn, int):
        return []
    dropping = {ev.listener_key(lst) for lst, _ in ev.drops_grew(before, after)}
    default = sysctl_defaults(parse_version(after.kernel_release)).get("net.core.somaxconn")
    lowered = isinstance(default, int) and somaxconn < default  # someone lowered the cap
    findings = []
    for listener in after.listeners:
        if not listener.clamped_by_somaxconn or rm.runtime_of(listener) is Runtime.GO:
            continue  # Go asks listen() for exactly net.core.somaxconn: never a clamp
        busy = listener.full or ev.listener_key(listener) in dropping
        findings.append(
            Finding(
                id="backlog-clamped-by-somaxconn",
                severity=Severity.WARNING if busy or lowered else Severity.INFO,
                title=f"{ev.endpoint(listener)} backlog is at net.core.somaxconn = {somaxconn}",
                evidence={
                    "accept_queue_limit": listener.accept_queue_limit,
                    "somaxconn": somaxconn,
                    "accept_queue": listener.accept_queue,
                    "full": listener.full,
                    "busy": busy,
                    "somaxconn_default": default,
                },
                explanation=(
                    "listen() silently lowers any backlog above the namespace's net.core.somaxconn (negative "
                    f"values become somaxconn too). This limit equals somaxconn ({somaxconn}): the application "
                    "asked for at least that much, maybe more; the kernel keeps only the result "
                    "(kernel-model §1.1, §9)."
                    + (" The queue is full or dropping, so the cap matters now." if busy else "")
                    + (f" somaxconn is below this kernel's default ({default})." if lowered else "")
                ),
                remedy=rm.larger_backlog(
                    after,
                    listener,
                    advice="Raise both: somaxconn alone changes nothing if the application asks for less.",
                    applies="at the next listen(): restart or reload the service",
                ),
                netns=after.netns,
                listener=rm.listener_ref(listener),
                process=rm.process_ref(rm.owner(listener)),
                references=["kernel-model §1.1", "kernel-model §9"],
            )
        )
    return findings


def flood_suspected(rates: Rates) -> bool:
    sent = ev.delta(rates, "TcpExtSyncookiesSent")
    answered = ev.delta(rates, "TcpExtSyncookiesRecv")
    return sent >= FLOOD_MIN_COOKIES and answered < FLOOD_ANSWERED_SHARE * sent


def syn_flood(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    """Cookies sent and not answered. SyncookiesFailed is evidence, not a trigger: for two
    minutes after an overflow every stray non-SYN segment at a listener (an ACK of an expired
    request, a FIN after data) is checked as a cookie and fails, with no attack at all."""
    if not flood_suspected(rates):
        return []
    sent = ev.delta(rates, "TcpExtSyncookiesSent")
    return [
        Finding(
            id="syn-flood-suspected",
            severity=Severity.CRITICAL,
            title=f"possible SYN flood in {ev.where(after)}: {sent} cookies sent, few answered",
            evidence={
                "SYN_RECV": after.states.get("SYN_RECV", 0),
                "SyncookiesSent": sent,
                "SyncookiesRecv": ev.delta(rates, "TcpExtSyncookiesRecv"),
                "SyncookiesFailed": ev.delta(rates, "TcpExtSyncookiesFailed"),
            },
            explanation=(
                "Legitimate clients answer a SYN cookie within one round trip; fewer than half of these "
                "were answered, so most SYNs came from sources that never complete the handshake "
                "(spoofed). SYN cookies keep legitimate clients connecting (kernel-model §2.1, §7)."
            ),
            remedy=Remedy(
                advice=(
                    "Keep SYN cookies on; filter the sources upstream if you can; a lower "
                    "net.ipv4.tcp_synack_retries shortens the life of the spoofed requests."
                ),
                sysctls=(
                    [rm.sysctl_change(after, "net.ipv4.tcp_syncookies", 1)]
                    if after.sysctl.get("net.ipv4.tcp_syncookies") != 1
                    else []
                ),
            ),
            netns=after.netns,
            references=["kernel-model §3", "kernel-model §7"],
        )
    ]


def _full_syn_queues(after: Snapshot) -> list[Listener]:
    return [lst for lst in after.listeners if lst.syn_recv > lst.accept_queue_limit]


def syn_queue_overflow(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    full = _full_syn_queues(after)
    where = ", ".join(f"{ev.endpoint(lst)} ({lst.syn_recv} SYN-RECV)" for lst in full[:5]) or "a listener"
    findings = []
    if ev.delta(rates, "TcpExtTCPReqQFullDrop"):
        findings.append(_syn_drop_finding(after, rates, where, full))
    cookies = ev.delta(rates, "TcpExtTCPReqQFullDoCookies")
    if cookies and after.sysctl.get("net.ipv4.tcp_syncookies") != 2:
        findings.append(_cookie_finding(before, after, rates, where, full))
    return findings


def _syn_drop_finding(after: Snapshot, rates: Rates, where: str, full: list[Listener]) -> Finding:
    first = full[0] if full else None
    return Finding(
        id="syn-queue-overflow-drop",
        severity=Severity.CRITICAL,
        title=f"SYN queue full and SYN cookies off: SYNs dropped at {where}",
        evidence={
            "TCPReqQFullDrop": ev.delta(rates, "TcpExtTCPReqQFullDrop"),
            "ListenDrops": ev.delta(rates, "TcpExtListenDrops"),
        },
        explanation=(
            "A listener admits at most backlog+1 half-open requests (6.13+; backlog before). With "
            "tcp_syncookies=0 further SYNs are dropped and clients wait for their SYN retry "
            "(kernel-model §2.1, §2.2, §7)."
        ),
        remedy=rm.larger_backlog(
            after,
            first,
            advice="Turn SYN cookies on; a larger listen backlog also helps (the SYN queue limit is the "
            "backlog, not tcp_max_syn_backlog).",
            first=(rm.sysctl_change(after, "net.ipv4.tcp_syncookies", 1),),
        ),
        netns=after.netns,
        listener=rm.listener_ref(first) if first else None,
        references=["kernel-model §2.2", "kernel-model §15a"],
    )


def _cookie_finding(
    before: Snapshot, after: Snapshot, rates: Rates, where: str, full: list[Listener]
) -> Finding:
    """Why the SYN queue filled decides the remedy: a flood, the retry wave of clients a full
    accept queue dropped, or a burst larger than the backlog."""
    overflowing = ev.drops_grew(before, after)
    if flood_suspected(rates):
        cause = "Most of them went to sources that never answered: see syn-flood-suspected."
        remedy = Remedy(advice="Keep SYN cookies on: they are what keeps legitimate clients connecting.")
    elif overflowing:
        names = ", ".join(ev.endpoint(lst) for lst, _ in overflowing[:3])
        cause = (
            f"The accept queue of {names} overflowed in the same interval: the clients it dropped retry "
            "their SYNs on the same timer ticks and arrive together, more at once than the backlog admits."
        )
        remedy = Remedy(
            advice="The cure is the accept rate: see accept-queue-overflow (a larger backlog "
            "alone only postpones it)."
        )
    else:
        cause = "A burst of legitimate clients larger than the listen backlog (the SYN queue limit)."
        remedy = rm.larger_backlog(
            after, full[0] if full else None, advice="Give the listener a backlog that holds the burst:"
        )
    return Finding(
        id="syn-queue-overflow-cookies",
        severity=Severity.WARNING,
        title=f"SYN queue full: the kernel is answering with SYN cookies at {where}",
        evidence={
            "TCPReqQFullDoCookies": ev.delta(rates, "TcpExtTCPReqQFullDoCookies"),
            "SyncookiesSent": ev.delta(rates, "TcpExtSyncookiesSent"),
            "SyncookiesRecv": ev.delta(rates, "TcpExtSyncookiesRecv"),
        },
        explanation=(
            "More half-open requests than the listen backlog allows: connections still complete "
            "statelessly, but a cookie loses window scaling, SACK and ECN unless the client used "
            "timestamps, and no SYN-ACK is retransmitted (kernel-model §7). " + cause
        ),
        remedy=remedy,
        netns=after.netns,
        listener=rm.listener_ref(full[0]) if full else None,
        references=["kernel-model §7"],
    )
