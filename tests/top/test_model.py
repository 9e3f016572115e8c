"""What `tcpq top` shows for a Scan and the keys' state, on hand-built Snapshots (no Textual)."""

import pytest

from tcpq.app.host_session import NotSeen, Scan
from tcpq.top import model
from tcpq.top.model import ALL, ViewState

from .builders import listener, one, sample, scan, snapshot


def ports(frame: model.Frame) -> list[int]:
    return [row.listener.port for row in frame.rows]


MIXED = [
    listener(8080, drops_per_s=5.0, accept_queue=3, limit=3, syn_recv=1, comm="nginx"),
    listener(9090, drops_per_s=50.0, accept_queue=1, limit=9, syn_recv=7, comm="java"),
    listener(7070, drops_per_s=None, accept_queue=100, limit=511, syn_recv=0, comm=None),
    listener(6060, drops_per_s=0.0, accept_queue=0, limit=4096, syn_recv=3, comm="agent"),
]


def test_default_is_drops_per_second_worst_first_unknown_last() -> None:
    assert ports(model.frame(one(MIXED), ViewState())) == [9090, 8080, 6060, 7070]


def test_reverse_turns_the_order_around() -> None:
    state = model.reverse(ViewState())
    assert not state.descending
    assert ports(model.frame(one(MIXED), state)) == [7070, 6060, 8080, 9090]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("fill", [8080, 7070, 9090, 6060]),  # 3/4, 100/512, 1/10, 0
        ("accept_queue", [7070, 8080, 9090, 6060]),
        ("limit", [6060, 7070, 9090, 8080]),  # 4096, 511, 9, 3
        ("syn_recv", [9090, 6060, 8080, 7070]),
        ("endpoint", [6060, 7070, 8080, 9090]),  # text columns start A to Z
        ("process", [7070, 6060, 9090, 8080]),  # "" (unknown) first, then agent, java, nginx
    ],
)
def test_each_column_sorts_in_its_natural_direction(key: str, expected: list[int]) -> None:
    state = model.sort_by(ViewState(), key)
    assert ports(model.frame(one(MIXED), state)) == expected


def test_s_cycles_every_column_and_comes_back() -> None:
    state = ViewState()
    seen = [state.sort]
    for _ in model.COLUMNS:
        state = model.next_sort(state)
        seen.append(state.sort)
    assert seen == [*model.COLUMN_KEYS, "drops"]
    assert state.descending  # back on a number column: worst first again


def test_choosing_a_new_column_resets_the_direction_choosing_it_again_keeps_it() -> None:
    ascending = model.reverse(ViewState())
    assert model.sort_by(ascending, "drops") == ascending
    assert model.sort_by(ascending, "syn_recv").descending
    assert not model.sort_by(ascending, "netns").descending


def test_equal_values_keep_a_steady_order() -> None:
    same = [listener(port, drops_per_s=1.0) for port in (5003, 5001, 5002)]
    assert ports(model.frame(one(same), ViewState())) == [5001, 5002, 5003]


def test_cells_in_column_order() -> None:
    row = model.frame(one([MIXED[0]]), ViewState()).rows[0]
    assert row.cells == ("5.0", "75%", "3", "3", "1", "127.0.0.1:8080", "nginx", "self")
    unknown = model.frame(one([MIXED[2]]), ViewState()).rows[0]
    assert unknown.cells[0] == "-" and unknown.cells[6] == ""


def test_a_full_queue_is_100_percent_and_ipv6_is_bracketed() -> None:
    full = listener(80, accept_queue=129, limit=128, address="::1")
    row = model.frame(one([full]), ViewState()).rows[0]
    assert row.cells[1] == "100%"
    assert row.cells[5] == "[::1]:80"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [9090, 8080, 6060, 7070]),
        (":80", [8080]),  # address:port
        ("JAVA", [9090]),  # process, any case
        ("self", [9090, 8080, 6060, 7070]),  # namespace
        ("nothing-like-it", []),
    ],
)
def test_filter_is_a_substring_of_endpoint_process_or_namespace(text: str, expected: list[int]) -> None:
    shown = model.frame(one(MIXED), model.with_filter(ViewState(), text))
    assert ports(shown) == expected
    assert (f"filter {text!r}" in shown.title) == bool(text)


def test_the_cap_shows_the_worst_and_counts_the_rest() -> None:
    many = [listener(10000 + i, drops_per_s=float(i)) for i in range(2500)]
    shown = model.frame(one(many), ViewState())
    assert len(shown.rows) == model.LISTENER_CAP
    assert ports(shown)[:3] == [12499, 12498, 12497]
    assert shown.more == 2500 - model.LISTENER_CAP
    assert shown.more_line.startswith("2300 more")
    assert "2500 listeners (200 shown)" in shown.title


def test_the_cap_follows_the_sort_and_the_filter() -> None:
    many = [listener(10000 + i, drops_per_s=float(i)) for i in range(500)]
    ascending = model.frame(one(many), model.reverse(ViewState()), cap=10)
    assert ports(ascending) == list(range(10000, 10010))
    narrowed = model.frame(one(many), model.with_filter(ViewState(), ":1049"), cap=4)
    assert ports(narrowed) == [10499, 10498, 10497, 10496]  # the worst of the ten that match
    assert narrowed.more == 6 and narrowed.more_line.startswith("6 more")


def two_namespaces() -> Scan:
    here = snapshot([listener(80, drops_per_s=1.0)], states={"LISTEN": 1, "ESTAB": 4})
    there = snapshot(
        [listener(81, drops_per_s=2.0, netns="blue")], netns="blue", states={"LISTEN": 1, "TIME_WAIT": 2}
    )
    other = snapshot([listener(82, netns="red")], netns="red", states={"LISTEN": 1})
    return scan(
        sample(here, {"TcpExtListenOverflows": 1.0, "TcpPassiveOpens": 0.0}),
        sample(there, {"TcpExtListenOverflows": 2.5, "TcpPassiveOpens": 3.0}),
        sample(other, {"TcpExtListenOverflows": 0.0, "TcpPassiveOpens": 0.0}),
    )


def test_n_cycles_self_all_then_each_namespace() -> None:
    both = two_namespaces()
    assert model.scopes(both) == ["self", ALL, "blue", "red"]
    state = ViewState(scope="self")
    order = []
    for _ in range(5):
        order.append(state.scope)
        state = model.next_scope(state, both)
    assert order == ["self", ALL, "blue", "red", "self"]


def test_a_scope_whose_namespace_vanished_starts_the_cycle_again() -> None:
    assert model.next_scope(ViewState(scope="gone"), two_namespaces()).scope == "self"


def test_scope_chooses_listeners_states_and_rates_of_those_namespaces() -> None:
    both = two_namespaces()
    every = model.frame(both, ViewState(scope=ALL))
    assert ports(every) == [81, 80, 82]
    assert every.states_line == "States: ESTAB 4  LISTEN 3  TIME_WAIT 2"
    assert every.rates_line == "Rates/s: ListenOverflows 3.5  PassiveOpens 3.0"
    blue = model.frame(both, ViewState(scope="blue"))
    assert ports(blue) == [81]
    assert blue.states_line == "States: TIME_WAIT 2  LISTEN 1"  # most first
    assert blue.rates_line == "Rates/s: PassiveOpens 3.0  ListenOverflows 2.5"  # fastest first
    assert "netns blue" in blue.title
    here = model.frame(both, ViewState(scope="self"))
    assert here.rates_line == "Rates/s: ListenOverflows 1.0  (1 at 0)"


def test_rates_are_the_connection_handling_counters_only() -> None:
    snap = snapshot([], counters={"TcpExtListenOverflows": 1, "IpInReceives": 9})
    moved = sample(snap, {"TcpExtListenOverflows": 4.0, "IpInReceives": 900.0})
    shown = model.frame(scan(moved), ViewState())
    assert shown.rates_line == "Rates/s: ListenOverflows 4.0"


def test_paused_and_vanished_namespaces_are_said() -> None:
    gone = scan(sample(snapshot([])), not_seen=[NotSeen("blue", "vanished")])
    shown = model.frame(gone, model.toggle_pause(ViewState()))
    assert shown.title.endswith("PAUSED")
    assert shown.notes == ["not seen: blue: vanished"]
    assert "PAUSED" not in model.frame(gone, ViewState()).title
