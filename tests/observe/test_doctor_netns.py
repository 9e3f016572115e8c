"""Each pathology built for real in a throwaway namespace; the doctor names listener and process.

Root only (CI is root). Everything runs inside namespaces these tests create and delete; the
nft rules live in those namespaces only; every load loop is bounded in count and time.
"""

import json
from typing import Any

import pytest
from click.testing import CliRunner

from tcpq.cli import main

from .nslab import Namespace, clients, leftover_namespaces, listener, namespace, settle


def doctor(ns: Namespace | str, interval: float = 1.5) -> tuple[int, list[dict[str, Any]]]:
    name = ns if isinstance(ns, str) else ns.name
    result = CliRunner().invoke(main, ["doctor", "--netns", name, "--interval", str(interval), "--json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


def ids(findings: list[dict[str, Any]]) -> set[str]:
    return {finding["id"] for finding in findings}


def by_id(findings: list[dict[str, Any]], finding_id: str) -> dict[str, Any]:
    return next(finding for finding in findings if finding["id"] == finding_id)


def test_healthy_namespace_has_no_finding() -> None:
    with namespace() as ns:
        listener(ns, 7001, 128, "close")
        clients(ns, 7001, count=20, gap=0.05, close=True)
        code, findings = doctor(ns)
        assert findings == [] and code == 0


def test_accept_queue_overflow_names_listener_and_process() -> None:
    with namespace() as ns:
        server = listener(ns, 7002, 4, "never")
        clients(ns, 7002, count=200, gap=0.02)
        settle()
        code, findings = doctor(ns)
        assert code == 1
        finding = by_id(findings, "accept-queue-overflow")
        assert finding["severity"] == "critical"
        assert finding["listener"] == {"address": "127.0.0.1", "port": 7002}
        assert finding["process"]["pid"] == server.pid or finding["process"]["comm"].startswith("python")
        assert finding["evidence"]["accept_queue_limit"] == 4
        assert finding["evidence"]["listener_drops"] > 0
        assert finding["netns"] == ns.name


def test_backlog_clamped_by_namespace_somaxconn() -> None:
    with namespace() as ns:
        ns.sysctl("net.core.somaxconn", "16")
        listener(ns, 7003, 511, "never")
        _, findings = doctor(ns, interval=0.5)
        finding = by_id(findings, "backlog-clamped-by-somaxconn")
        assert finding["listener"]["port"] == 7003
        assert finding["evidence"]["accept_queue_limit"] == 16
        # The doctor's one target for this listener: 4 × its limit, at least 128, above what it has.
        assert f"ip netns exec {ns.name} sysctl -w net.core.somaxconn=128" in finding["remedy"]
        assert finding["app_change"]["example"] == "sock.listen(128)"


@pytest.mark.parametrize(
    ("cookies", "expected"), [(0, "syn-queue-overflow-drop"), (1, "syn-queue-overflow-cookies")]
)
def test_syn_queue_overflow(cookies: int, expected: str) -> None:
    with namespace() as ns:
        ns.sysctl("net.ipv4.tcp_syncookies", str(cookies))
        ns.drop_final_acks(7004)
        listener(ns, 7004, 4, "never")
        clients(ns, 7004, count=150, gap=0.02)
        settle()
        code, findings = doctor(ns)
        assert code == 1
        assert expected in ids(findings)
        if cookies == 0:
            assert "syncookies-disabled" in ids(findings)


def test_close_wait_pileup_names_the_process() -> None:
    with namespace() as ns:
        server = listener(ns, 7005, 128, "hold")
        clients(ns, 7005, count=40, gap=0.01, close=True)
        settle(1.0)
        _, findings = doctor(ns, interval=0.5)
        finding = by_id(findings, "close-wait-pileup")
        assert finding["process"]["pid"] == server.pid or finding["evidence"]["close_wait"] >= 20
        assert finding["evidence"]["close_wait"] >= 20
        assert finding["evidence"]["peers"][0]["address"] == "127.0.0.1"


def test_time_wait_burst_against_narrow_port_range() -> None:
    with namespace() as ns:
        ns.sysctl("net.ipv4.ip_local_port_range", "40000 40099")
        listener(ns, 7006, 128, "eof")
        clients(ns, 7006, count=70, gap=0.01, close=True)
        settle(1.5)
        _, findings = doctor(ns, interval=0.5)
        finding = by_id(findings, "time-wait-port-exhaustion-risk")
        assert finding["evidence"]["ports"] == 100
        assert finding["evidence"]["time_wait"] >= 50


def test_netns_all_finds_pathology_elsewhere() -> None:
    with namespace() as ns:
        ns.sysctl("net.core.somaxconn", "16")
        listener(ns, 7007, 511, "never")
        result = CliRunner().invoke(main, ["doctor", "--netns", "all", "--interval", "0.5", "--json"])
        assert result.exit_code == 1, result.output
        findings = json.loads(result.stdout)["findings"]
        assert any(f["id"] == "backlog-clamped-by-somaxconn" and f["netns"] == ns.name for f in findings)


def test_nothing_left_behind() -> None:
    assert leftover_namespaces() == []
