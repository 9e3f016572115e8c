"""The client's FIN on the real kernel (root; CI is root): a FIN is retransmitted like data and
carries the ACK that completes a handshake whose final ACK was dropped (sim/client_side.py)."""

import os

import pytest

from tcpq.lab.runner import run_lab
from tcpq.scenario import scenario_from_dict
from tcpq.sim.runner import simulate

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI runs as root)")

KEYS = ("TcpRetransSegs", "TcpExtTCPTimeouts")


def test_a_fin_dropped_by_a_filter_is_retransmitted_and_makes_the_child() -> None:
    scenario = scenario_from_dict(
        {
            "name": "fin-retransmitted",
            "duration": "2s",
            "server": {"backlog": 8, "accept": "immediate"},
            "clients": {"count": 1, "close_after": "0s"},
            "network": {"filter": {"drop": "non_syn", "from": "0s", "until": "0.5s"}},
        }
    )
    lab = run_lab(scenario)
    model = simulate(scenario)
    # a loss probe at 0.2 s and an RTO at 0.41 s meet the filter; the RTO at 0.83 s passes
    assert [lab.client_counters.get(key, 0) for key in KEYS] == [3, 2]
    assert [model.client_counters.get(key, 0) for key in KEYS] == [3, 2]
    assert lab.counters["TcpPassiveOpens"] == model.counters["TcpPassiveOpens"] == 1
    assert lab.counters.get("TcpExtTCPSynRetrans", 0) == model.counters.get("TcpExtTCPSynRetrans", 0) == 0
