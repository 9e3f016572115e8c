"""The doctor's terminal view at 80 and 200 columns (golden, colour off), its sysctl.d file,
and `doctor --netns all` when a namespace vanishes (issue 8, items 7 and 9)."""

import json
import os
import subprocess
import sys

import pytest

from tcpq.report.doctor import render_findings, sysctl_file
from tcpq.types import (
    AppChange,
    Finding,
    ListenerRef,
    ProcessRef,
    Remedy,
    Runtime,
    Severity,
    SysctlChange,
)

from ..golden import check_golden, render
from .nslab import namespace
from .test_golden import GOLDEN, WIDTHS, fits
from .test_views import delete_after_listing, delete_during_interval, invoke

NS = "tcpq-test-web-frontend"
FINDINGS = [
    Finding(
        id="accept-queue-overflow",
        severity=Severity.CRITICAL,
        title="accept queue of [2001:db8:85a3::8a2e:370:7334]:8443 overflows (nginx (pid 4194304))",
        evidence={
            "listener_drops": 455,
            "drops_per_s": 150.66,
            "accept_queue": 129,
            "accept_queue_limit": 128,
        },
        explanation="The application does not call accept() fast enough. The accept queue holds backlog+1.",
        remedy=Remedy(
            advice="Accept faster, or give the queue room:",
            sysctls=[SysctlChange("net.core.somaxconn", 512, NS, current=128)],
            app=AppChange(
                Runtime.NGINX,
                "raise the listen backlog in the server block, then reload nginx",
                "listen [2001:db8:85a3::8a2e:370:7334]:8443 backlog=512;",
            ),
            applies="the backlog changes at the next listen(): restart or reload the service",
        ),
        netns=NS,
        listener=ListenerRef("2001:db8:85a3::8a2e:370:7334", 8443),
        process=ProcessRef(4194304, "nginx", Runtime.NGINX),
    ),
    Finding(
        id="time-wait-port-exhaustion-risk",
        severity=Severity.WARNING,
        title="30000 TIME_WAIT sockets towards 10.0.0.8:3306 (53% of the 28232 ephemeral ports)",
        evidence={"time_wait": 30000, "ip_local_port_range": [32768, 60999]},
        explanation="Each short connection this host closes first keeps its port in TIME_WAIT for 60 s.",
        remedy=Remedy(
            advice="Reuse connections.",
            sysctls=[SysctlChange("net.ipv4.ip_local_port_range", (1024, 65535), NS, current=(32768, 60999))],
        ),
        netns=NS,
    ),
]
WHOLE = (
    "[2001:db8:85a3::8a2e:370:7334]:8443",
    "listen [2001:db8:85a3::8a2e:370:7334]:8443 backlog=512;",
    f"ip netns exec {NS} sysctl -w net.core.somaxconn=512",
    "4194304",
)


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_golden(width: int) -> None:
    text = render(render_findings(FINDINGS, NS, 5.0), width)
    fits(text, width)
    for value in WHOLE:
        assert value in text, value
    assert f"network namespace {NS}" in text.splitlines()[0]  # which namespace, said first
    check_golden(GOLDEN / f"doctor_{width}.txt", text)


def test_sysctl_file_keeps_namespaced_lines_out_of_the_host() -> None:
    """A sysctl.d file is read in the host namespace: a namespace's change is a comment with
    the command that applies it there, never a line the host would apply."""
    text = sysctl_file(FINDINGS)
    assert f"# namespace {NS}: apply with `ip netns exec {NS} sysctl -w net.core.somaxconn=512`" in text
    assert "\nnet.core.somaxconn" not in text
    host = [
        Finding("syncookies-disabled", Severity.WARNING, "t", {}, "e",
                Remedy(sysctls=[SysctlChange("net.ipv4.tcp_syncookies", 1, "self", current=0)]))
    ]  # fmt: skip
    assert "\nnet.ipv4.tcp_syncookies = 1\n" in sysctl_file(host)


def test_doctor_all_names_a_vanished_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        deleted = delete_after_listing(monkeypatch, ns.name)
        code, out, err = invoke("doctor", "--netns", "all", "--interval", "0.2", "--json")
        assert deleted == [ns.name]
        assert code in (0, 1), err
        data = json.loads(out)
        assert ns.name in [item["netns"] for item in data["not_seen"]]


def test_doctor_all_vanishing_between_samples_in_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        clock = delete_during_interval(monkeypatch, ns.name)
        code, out, err = invoke("doctor", "--netns", "all", "--interval", "0.05")
        assert code in (0, 1), err
        assert clock.deleted == 1
        assert f"not seen: {ns.name}" in out
        assert "the host namespace" in out


AS_NOBODY = (
    "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
    # Only to read this checkout and its Python where they sit under /root; not other processes' fds.
    "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
)  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become nobody")
def test_doctor_says_what_it_could_not_see_unprivileged() -> None:
    """As nobody, other users' processes cannot be read: the findings come with that said."""
    result = subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "tcpq", "doctor", "--interval", "0.2", "--json"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert any("could not be read" in note for note in notes), notes
    terminal = subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "tcpq", "doctor", "--interval", "0.2"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert "could not be read" in terminal.stdout


def test_counters_all_names_a_vanished_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    with namespace() as ns:
        deleted = delete_after_listing(monkeypatch, ns.name)
        code, out, err = invoke("counters", "--netns", "all", "--interval", "0", "--json")
        assert deleted == [ns.name] and code == 0, err
        data = json.loads(out)
        assert ns.name in [item["netns"] for item in data["not_seen"]]
        assert "self" in [item["netns"] for item in data["namespaces"]]
