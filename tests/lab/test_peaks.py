"""Queue peaks in the lab (root; CI is root): exact where the kernel's counters prove them,
flagged as a lower bound otherwise, and compared as such (kernel-model §1.3, §2.1, §2.2)."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tcpq.cli import main
from tcpq.lab.runner import run_lab
from tcpq.scenario import Scenario, scenario_from_dict

from .helpers import lab_json

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")


def scenario(**sections: Any) -> Scenario:
    return scenario_from_dict({"name": "peaks", "duration": "1s", "seed": 1, **sections})


def test_cookies_prove_full_queues() -> None:
    data = lab_json("e4-syn-queue-cookies.toml")
    listener, counters = data["listener"], data["counters"]
    assert counters["TcpExtTCPReqQFullDoCookies"] > 0 and counters["TcpExtListenOverflows"] > 0
    assert listener["syn_queue_peak"] == listener["syn_queue_limit"] == listener["backlog"] + 1
    assert listener["accept_queue_peak"] == listener["accept_queue_limit"] + 1
    assert listener["syn_queue_peak_exact"] is True and listener["accept_queue_peak_exact"] is True


def test_a_short_syn_queue_peak_is_proven_by_the_counters() -> None:
    # 10 SYNs at once, backlog 4, a 4 ms RTT: 5 requests live for one round trip (shorter than
    # the sampler's period), the 5 SYNs that find them get cookies. The counter proves the peak.
    result = run_lab(
        scenario(
            kernel={"sysctl": {"net.ipv4.tcp_syncookies": 1}},
            server={"backlog": 4},
            clients=[{"count": 10}],
            network={"rtt": "4ms"},
        )
    )
    assert result.counters["TcpExtTCPReqQFullDoCookies"] > 0
    assert result.listener.syn_queue_peak == result.listener.syn_queue_limit == 5
    assert result.listener.syn_queue_peak_exact
    assert result.clients.connected == 10


def test_nobody_accepts_the_last_sample_is_exact() -> None:
    result = run_lab(scenario(server={"backlog": 8, "accept": "never"}, clients=[{"count": 3}]))
    assert result.counters.get("TcpExtListenOverflows", 0) == 0
    assert result.listener.accept_queue_peak == 3 and result.listener.accept_queue_peak_exact
    assert not result.listener.syn_queue_peak_exact  # 3 requests for one round trip: unproven


def test_unproven_peaks_are_lower_bounds(tmp_path: Path) -> None:
    # An accepting server, room everywhere: no counter says a queue was ever full.
    path = tmp_path / "accepting.toml"
    path.write_text(
        'name = "accepting"\nduration = "1s"\n[server]\nbacklog = 64\n'
        '[[clients]]\nrate = "100/s"\nuntil = "0.5s"\n'
    )
    result = CliRunner().invoke(main, ["compare", str(path), "--json"])
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    listener = data["lab"]["listener"]
    assert data["lab"]["counters"]["TcpExtListenOverflows"] == 0
    assert listener["accept_queue_peak_exact"] is False and listener["syn_queue_peak_exact"] is False
    assert listener["accept_queue_peak"] < listener["accept_queue_limit"] + 1
    assert listener["syn_queue_peak"] < listener["syn_queue_limit"]
    rows = {row["metric"]: row for row in data["comparison"]["rows"]}
    accept = rows["listener.accept_queue_peak"]
    assert accept["lab_lower_bound"] is True and accept["upper"] == listener["accept_queue_limit"] + 1
    assert accept["ok"]  # the model's small peak is consistent with "at least what was sampled"
    assert any("lower bound" in note for note in data["comparison"]["notes"])
    assert data["sim"]["listener"]["accept_queue_peak_exact"] is True  # the model's are exact
