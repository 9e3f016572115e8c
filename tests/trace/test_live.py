"""tcpq trace on the real kernel (root), in `tcpq-test-*` namespaces this file makes and removes.

Every figure the trace reports is checked against the namespace's counters read here
independently, over a window that holds all of the traffic: the trace starts first, the
traffic ends (its sockets closed or reset) before the trace's last counter reading.
"""

import os
import time

import pytest

from ..observe import nslab
from .live import (
    DEFER_CLIENTS,
    DEFER_LISTENER,
    Trace,
    delta,
    free_port,
    instances_now,
    netstat,
    tracefs_mounted_here,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="tracefs and namespaces need root (CI runs as root)"
)


def test_syn_time_overflow_counts_equal_the_counters() -> None:
    """listen(1), never accept, 10 clients for 3.5 s: every overflow is at SYN time (no
    kfree_skb reason carries it) and each SYN retransmission is one tcp_retransmit_skb."""
    port = free_port()
    with nslab.namespace() as ns:
        nslab.listener(ns, port, backlog=1, mode="never", lifetime=15)
        mounted_before = tracefs_mounted_here()
        trace = Trace("--port", str(port), "--netns", ns.name, "--duration", "6s", "--summary")
        trace.start()
        before = netstat(ns)
        clients = nslab.clients(ns, port, count=10, gap=0.01, lifetime=3.5)
        clients.wait(timeout=20)
        after = netstat(ns)
        code, err = trace.finish()
    assert code == 0, err
    row = trace.namespace_row(ns.name)
    overflows, retrans = delta(before, after, "ListenOverflows"), delta(before, after, "TCPSynRetrans")
    assert overflows > 0 and retrans > 0
    assert row["counters"]["TcpExtListenOverflows"] == overflows
    assert row["events"].get("final_ack_drops", 0) == 0
    assert row["syn_time_drops"] == overflows
    assert row["events"]["syn_retransmits"] == retrans
    listener = trace.listener_row(ns.name, port)
    assert listener["address"] == "127.0.0.1" and listener["counts"]["syn_retransmits"] == retrans
    assert listener["counts"]["syn_time_drops"] == overflows
    events = trace.of_type("event")
    assert all(event["netns"] == ns.name for event in events)
    assert all(event["process"] is None or event["process"]["comm"] != "swapper/0" for event in events)
    assert trace.summary["lost"] == {"pipe": 0, "overrun": 0, "dropped": 0}
    assert tracefs_mounted_here() == mounted_before
    assert f"tcpq-{trace.proc.pid}" not in instances_now()


@pytest.mark.parametrize("abort", [0, 1])
def test_final_ack_overflow_drops_equal_listen_overflows(abort: int) -> None:
    port, backlog = free_port(), 3
    with nslab.namespace() as ns:
        ns.sysctl("net.ipv4.tcp_abort_on_overflow", str(abort))
        ns.python(DEFER_LISTENER.format(port=port, backlog=backlog, lifetime=20))
        trace = Trace("--port", str(port), "--netns", ns.name, "--duration", "7s", "--summary")
        trace.start()
        before = netstat(ns)
        clients = ns.python(DEFER_CLIENTS.format(port=port, backlog=backlog, hold=3.5))
        clients.wait(timeout=30)
        after = netstat(ns)
        code, err = trace.finish()
    assert code == 0, err
    assert clients.returncode == 0, clients.stderr.read() if clients.stderr else ""
    row = trace.namespace_row(ns.name)
    overflows = delta(before, after, "ListenOverflows")
    assert overflows >= backlog
    assert row["counters"]["TcpExtListenOverflows"] == overflows
    assert row["events"]["final_ack_drops"] == overflows
    assert row["syn_time_drops"] == 0
    retrans = delta(before, after, "TCPSynRetrans")
    events = row["events"]
    assert events.get("syn_retransmits", 0) + events.get("synack_retransmits", 0) == retrans
    drops = [
        e for e in trace.of_type("event") if e["kind"] == "drop" and e["reason"] == "TCP_LISTEN_OVERFLOW"
    ]
    assert all(e["listener"] == {"netns": ns.name, "address": "127.0.0.1", "port": port} for e in drops)
    assert all(e["attributed_by"] == "pointer" for e in drops)
    if abort:
        assert overflows == backlog  # each reset ends its connection: one drop each
        assert events["resets_for_overflow"] == overflows
        assert all(e["paired_reset"] for e in drops)
    else:
        assert overflows > backlog  # the clients' data retransmissions overflow again
        assert events.get("resets_for_overflow", 0) == 0


def test_two_namespaces_same_address_and_port() -> None:
    port = free_port()
    with nslab.namespace() as one, nslab.namespace() as two:
        for ns in (one, two):
            nslab.listener(ns, port, backlog=1, mode="never", lifetime=15)
        trace = Trace("--port", str(port), "--duration", "6s", "--summary")
        trace.start()
        before = {ns.name: netstat(ns) for ns in (one, two)}
        runs = [nslab.clients(one, port, count=4, gap=0.01, lifetime=3.5)]
        runs.append(nslab.clients(two, port, count=9, gap=0.01, lifetime=3.5))
        for proc in runs:
            proc.wait(timeout=20)
        after = {ns.name: netstat(ns) for ns in (one, two)}
        code, err = trace.finish()
    assert code == 0, err
    seen = set()
    for ns in (one, two):
        retrans = delta(before[ns.name], after[ns.name], "TCPSynRetrans")
        overflows = delta(before[ns.name], after[ns.name], "ListenOverflows")
        listener = trace.listener_row(ns.name, port)
        assert listener["address"] == "127.0.0.1"
        assert listener["counts"]["syn_retransmits"] == retrans
        assert trace.namespace_row(ns.name)["syn_time_drops"] == overflows
        assert listener["processes"] and listener["processes"][0]["comm"].startswith("python")
        seen.add(retrans)
    assert len(seen) == 2  # 4 and 9 clients: the two namespaces' figures differ
    mine = [
        e for e in trace.of_type("event") if e["kind"] == "syn-retransmit" and e["remote"]["port"] == port
    ]
    assert mine and all(e["netns"] in (one.name, two.name) for e in mine)
    assert all(e["attributed_by"] in ("pointer", "tuple") for e in mine)


def test_teardown_state_changes_stay_in_the_kernel() -> None:
    """Connections accepted and closed at once: their establishment transitions are traced,
    teardown (FIN_WAIT1, CLOSE_WAIT, LAST_ACK ...) is filtered out by the kernel."""
    port = free_port()
    with nslab.namespace() as ns:
        nslab.listener(ns, port, backlog=16, mode="close", lifetime=10)
        trace = Trace("--port", str(port), "--netns", ns.name, "--duration", "2.5s")
        trace.start()
        nslab.clients(ns, port, count=5, gap=0.05, close=True, lifetime=1).wait(timeout=20)
        code, err = trace.finish()
    assert code == 0, err
    events = [e for e in trace.of_type("event") if e["kind"] == "state"]
    states = [(e["oldstate"], e["newstate"]) for e in events]
    establishment = {"SYN_SENT", "SYN_RECV", "NEW_SYN_RECV", "LISTEN"}
    assert states.count(("CLOSE", "SYN_SENT")) == 5 and states.count(("SYN_RECV", "ESTABLISHED")) == 5
    assert all(old in establishment or new in establishment for old, new in states), states
    assert all(e["netns"] == ns.name for e in events)


def _started_then(signal_name: str) -> Trace:
    trace = Trace("--port", str(free_port()), new_session=signal_name == "SIGKILL")
    trace.start()
    time.sleep(0.5)
    return trace


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_sigint_and_sigterm_remove_the_instance(signum: int, code: int) -> None:
    nslab.require_root_netns()
    mounted_before = tracefs_mounted_here()
    trace = _started_then("SIGINT")
    name = f"tcpq-{trace.proc.pid}"
    assert name in instances_now()
    trace.proc.send_signal(signum)
    returncode, err = trace.finish()
    assert returncode == code, err
    assert name not in instances_now()
    assert tracefs_mounted_here() == mounted_before


def test_sigkill_then_lab_clean_removes_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tcpq.cli import main
    from tcpq.lab import sandbox

    nslab.require_root_netns()
    trace = _started_then("SIGKILL")
    name = f"tcpq-{trace.proc.pid}"
    os.killpg(trace.proc.pid, 9)  # tcpq and its mount helper: nothing is left to clean up
    trace.proc.wait(timeout=10)
    assert name in instances_now()  # stale: a kernel-global instance outlives its owner
    monkeypatch.setattr(sandbox, "stale_namespaces", list)  # other runs' namespaces are not ours
    result = CliRunner().invoke(main, ["lab", "clean"])
    assert result.exit_code == 0, result.output
    assert name in result.stdout
    assert name not in instances_now()
