"""The doctor's rules, in the order they are reported, and `diagnose`.

One function per finding (listen_rules, socket_rules). Each takes the two samples and the rates
between them and returns Findings whose remedy is data (sysctl changes with their namespace, an
application change for the detected runtime); report/ renders it. tcpq never applies a remedy.
"""

from collections.abc import Callable

from tcpq.doctor import listen_rules, socket_rules
from tcpq.types import Finding, Rates, Severity, Snapshot

Rule = Callable[[Snapshot, Snapshot, Rates], list[Finding]]

RULES: tuple[Rule, ...] = (
    listen_rules.accept_queue_overflow,
    listen_rules.backlog_at_somaxconn,
    listen_rules.syn_queue_overflow,
    listen_rules.syn_flood,
    socket_rules.close_wait_pileup,
    socket_rules.time_wait_pressure,
    socket_rules.tw_buckets_overflow,
    socket_rules.orphans_near_limit,
    socket_rules.queued_sockets,
    socket_rules.abort_on_overflow,
    socket_rules.syncookies_disabled,
)

SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def diagnose(before: Snapshot, after: Snapshot, rates: Rates) -> list[Finding]:
    findings = [finding for rule in RULES for finding in rule(before, after, rates)]
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
