"""The lab's timing (root; CI is root): one nft -i process switches [network.filter] on time.

The filter windows are checked by counters that only come out right when the rule is in place
within a few milliseconds of its time: a client whose final ACK meets the rule stays a request
on the server until the SYN-ACK is retransmitted 1 s later (TCPSynRetrans +1, kernel-model
§3.5, §16 E2), a client whose ACK arrives before the rule or after it connects at once.
"""

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tcpq.errors import TcpqError
from tcpq.lab import sandbox
from tcpq.lab.nftfilter import NFT_TABLE, FilterSwitch
from tcpq.lab.runner import run_lab
from tcpq.lab.sampler import ListenerSampler
from tcpq.observe.netns import resolve_netns
from tcpq.scenario import Scenario, scenario_from_dict
from tcpq.sim.runner import simulate

from .helpers import processes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")

MARGIN_S = 0.005  # clients this far before / after a switch time


def window(start_s: float, until_s: float, client_times: list[float], **server: Any) -> Scenario:
    return scenario_from_dict(
        {
            "name": "filter-window",
            "duration": "2.5s",
            "seed": 1,
            "server": {"backlog": 16, "accept": "never", **server},
            "clients": [{"count": 1, "at": f"{t}s"} for t in client_times],
            "network": {"filter": {"drop": "bare_ack", "from": f"{start_s}s", "until": f"{until_s}s"}},
        }
    )


def chain_rules(ns: sandbox.Namespace) -> list[str]:
    listing = ns.run("nft", "list", "chain", "inet", NFT_TABLE, "in", check=False).stdout
    return [line.strip() for line in listing.splitlines() if line.strip().endswith("drop")]


def test_nft_i_applies_each_line_as_it_arrives() -> None:
    """One `nft -i`, stdin kept open: each line is in the kernel before the next is written."""
    with sandbox.lab() as lab:
        proc = lab.server.spawn(["nft", "-i"], stdin=True)
        assert proc.stdin is not None
        lines = [
            f"add table inet {NFT_TABLE}",
            f"add chain inet {NFT_TABLE} in {{ type filter hook input priority 0; }}",
            f"add rule inet {NFT_TABLE} in tcp dport 1 drop",
            f"flush chain inet {NFT_TABLE} in",
        ]
        expected = [None, [], ["tcp dport 1 drop"], []]
        for line, rules in zip(lines, expected, strict=True):
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                tables = lab.server.run("nft", "list", "tables").stdout
                if f"table inet {NFT_TABLE}" in tables and (
                    rules is None or chain_rules(lab.server) == rules
                ):
                    break
                time.sleep(0.01)
            else:
                pytest.fail(f"`{line}` was not applied while nft -i waited for more input")
            assert proc.poll() is None
        proc.stdin.close()
        assert proc.wait(timeout=5) == 0  # and it ends at end of input


def test_filter_switch_commits_before_it_returns() -> None:
    scenario = window(0.5, 1.0, [0.1])
    with sandbox.lab() as lab:
        nft = FilterSwitch(lab.server, scenario)
        nft.prepare()
        assert chain_rules(lab.server) == []  # due at 0.5 s, not before
        t0 = time.monotonic()
        nft._switch(nft.switches[0], t0)
        assert len(chain_rules(lab.server)) == 1 and nft.handle is not None
        nft._switch(nft.switches[1], t0)
        assert chain_rules(lab.server) == []
        assert [s.error for s in nft.switches] == ["", ""]
        with pytest.raises(TcpqError, match="refused"):
            nft.command(f"delete rule inet {NFT_TABLE} in handle 99999")
        assert nft.proc.poll() is None  # a refused line does not end the process


def synack_retransmits(scenario: Scenario) -> tuple[int, int, list[str]]:
    lab = run_lab(scenario)
    model = simulate(scenario)
    notes = [note for note in lab.notes if note.startswith("filter")]
    assert lab.clients.connected == lab.clients.attempted  # every client believes it connected
    return lab.counters["TcpExtTCPSynRetrans"], model.counters["TcpExtTCPSynRetrans"], notes


def test_filter_from_zero_is_in_place_before_the_first_syn() -> None:
    # Caught: the client at 0 s and the one just before 0.5 s; the one just after goes through.
    scenario = window(0, 0.5, [0.0, 0.5 - MARGIN_S, 0.5 + MARGIN_S])
    lab, model, notes = synack_retransmits(scenario)
    assert lab == model == 2, notes
    assert "eBPF" in notes[0] and "from 0 s until 0.5 s after T0, installed before T0" in notes[0]


def test_filter_window_switches_on_and_off_on_time() -> None:
    # Only the clients inside [0.5 s, 1.0 s), 5 ms from each edge, lose their final ACK.
    times = [0.5 - MARGIN_S, 0.5 + MARGIN_S, 1.0 - MARGIN_S, 1.0 + MARGIN_S]
    lab, model, notes = synack_retransmits(window(0.5, 1.0, times))
    assert lab == model == 2, notes
    assert "from 0.5 s until 1 s after T0" in notes[0], notes


def test_a_filter_edge_at_the_instant_of_a_burst_is_exact() -> None:
    """29 clients and a bare-ACK filter both at 0.2 s (fuzz-5-6): the kernel's final ACKs come
    after the edge, so every one is dropped, as in the model. With `nft -i` switching the rule
    1-6 ms late, 14-29 of them got through in five runs."""
    scenario = scenario_from_dict(
        {
            "name": "edge-at-burst",
            "duration": "1.5s",
            "kernel": {"sysctl": {"net.ipv4.tcp_syncookies": 0}},
            "server": {"backlog": 64, "workers": 1, "service_time": "10ms"},
            "clients": {"count": 29, "at": "0.2s"},
            "network": {"filter": {"drop": "bare_ack", "from": "0.2s"}},
        }
    )
    lab, model = run_lab(scenario), simulate(scenario)
    assert lab.counters.get("TcpPassiveOpens", 0) == model.counters.get("TcpPassiveOpens", 0) == 0
    assert lab.counters["TcpExtTCPSynRetrans"] == model.counters["TcpExtTCPSynRetrans"] == 29


def test_one_clock_for_client_times() -> None:
    """connected_at counts from the T0 the sampler's grid and the filter use: a client at 0.3 s
    that connects at once completes within milliseconds of 0.3 s of that T0."""
    scenario = scenario_from_dict(
        {
            "name": "one-clock",
            "duration": "0.6s",
            "server": {"backlog": 16, "accept": "never"},
            "clients": [{"count": 1, "at": "0.3s"}],
        }
    )
    result = run_lab(scenario)
    # handshakes at the grid points (0.1 s …): none before 0.3 s, one from 0.3 s on
    series = dict(zip(result.timeseries.t_s, result.timeseries.handshakes, strict=True))
    assert series[0.2] == 0 and series[0.4] == 1
    assert result.timeseries.t_s[-1] == pytest.approx(0.6)
    assert result.clients.connect_time_s.max is not None and result.clients.connect_time_s.max < 0.01


def our_nft_processes() -> list[int]:
    """`nft -e -a -i` processes started by this test process (Namespace.spawn execs nft)."""

    def parent(pid: int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return -1  # gone meanwhile
        match = re.search(r"^PPid:\s+(\d+)$", status, re.M)
        return int(match.group(1)) if match else -1

    candidates = processes(lambda cmdline: cmdline.startswith(b"nft\0-e\0-a\0-i"))
    return [pid for pid in candidates if parent(pid) == os.getpid()]


def test_nft_process_is_stopped_with_the_lab() -> None:
    run_lab(window(0.1, 0.2, [0.0]).model_copy(update={"duration": 300_000}))
    assert our_nft_processes() == []
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"tcpq-{os.getpid()}-" not in listing


def test_the_sampler_reads_the_end_counters_when_stopped_at_the_end() -> None:
    """The runner stops the sampler as soon as the run's time is up, often before the sampler's
    thread has woken for its last point: that read must still happen (before, the run's
    counters then came from after teardown, where a retransmission wave due just after the
    end was counted)."""
    with sandbox.lab() as lab:
        for attempt in range(5):
            sampler = ListenerSampler(resolve_netns(lab.server.name), 80, 0.1)
            t0 = time.monotonic() + 0.05
            sampler.start(t0, 0.3)
            time.sleep(max(0.0, t0 + 0.3 - time.monotonic()))
            sampler.stop()  # at the end, as runner.py does
            assert sampler.end_late_s is not None, f"attempt {attempt}: no read at the end"
            assert sampler.end_counters, f"attempt {attempt}: no counters at the end"
            assert [point.t_s for point in sampler.grid] == [0.1, 0.2, 0.3]


def bpf_fds() -> list[str]:
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
    return [link for link in links if link.startswith("anon_inode:bpf")]


def test_the_ebpf_filter_is_gone_after_the_run() -> None:
    """The program's links are closed with the lab (closing a tcx link detaches it; the program
    goes with its last reference): nothing of it is left in this process after run_lab()."""
    before = bpf_fds()
    run_lab(window(0.1, 0.2, [0.05]))
    assert bpf_fds() == before
