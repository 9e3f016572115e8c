"""`tcpq explain` lookup, JSON form and terminal rendering across all three catalogues."""

import json

import pytest
from rich.console import Console

from tcpq.errors import UnknownTerm
from tcpq.kernel.counters import COUNTERS, counter_aliases
from tcpq.kernel.lookup import EntryKind, all_names, entry_to_dict, explain
from tcpq.kernel.states import STATES, TcpState, state_aliases
from tcpq.kernel.sysctls import SYSCTLS, sysctl_aliases
from tcpq.report.explain import render_entry

V618 = (6, 18)


@pytest.mark.parametrize(
    ("term", "kind", "name"),
    [
        ("listenoverflows", EntryKind.COUNTER, "TcpExtListenOverflows"),
        ("TcpExtListenOverflows", EntryKind.COUNTER, "TcpExtListenOverflows"),
        ("somaxconn", EntryKind.SYSCTL, "net.core.somaxconn"),
        ("net.core.somaxconn", EntryKind.SYSCTL, "net.core.somaxconn"),
        ("net/ipv4/tcp_syncookies", EntryKind.SYSCTL, "net.ipv4.tcp_syncookies"),
        ("close_wait", EntryKind.STATE, "CLOSE_WAIT"),
        ("CLOSE-WAIT", EntryKind.STATE, "CLOSE_WAIT"),
        ("8", EntryKind.STATE, "CLOSE_WAIT"),
        ("0A", EntryKind.STATE, "LISTEN"),
        ("syn-recv", EntryKind.STATE, "SYN_RECV"),
        ("new_syn_recv", EntryKind.STATE, "NEW_SYN_RECV"),
        ("ActiveOpens", EntryKind.COUNTER, "TcpActiveOpens"),
        ("tcp_tw_recycle", EntryKind.SYSCTL, "net.ipv4.tcp_tw_recycle"),
    ],
)
def test_explain_finds_entries(term: str, kind: EntryKind, name: str) -> None:
    entry = explain(term)
    assert (entry.kind, entry.name) == (kind, name)
    assert explain(term, V618) == entry


def test_misspelling_suggests_the_nearest_names() -> None:
    with pytest.raises(UnknownTerm) as caught:
        explain("listenoverflow")
    assert caught.value.term == "listenoverflow"
    assert caught.value.suggestions[0] == "ListenOverflows"
    assert len(caught.value.suggestions) <= 5
    assert "ListenOverflows" in str(caught.value)


def test_suggestions_name_distinct_entries() -> None:
    with pytest.raises(UnknownTerm) as caught:
        explain("somaxcon")
    suggestions = caught.value.suggestions
    assert suggestions[0] == "somaxconn"
    assert len({explain(s).name for s in suggestions}) == len(suggestions)


@pytest.mark.parametrize("term", ["", "zzqqxxyy", "14"])
def test_far_misses_have_no_or_few_suggestions(term: str) -> None:
    with pytest.raises(UnknownTerm) as caught:
        explain(term)
    assert len(caught.value.suggestions) <= 5
    if term == "zzqqxxyy":
        assert caught.value.suggestions == []


def _expected_aliases() -> list[tuple[str, str]]:
    pairs = [(alias, s.name) for s in SYSCTLS.values() for alias in sysctl_aliases(s)]
    pairs += [(alias, c.nstat) for c in COUNTERS.values() for alias in counter_aliases(c)]
    # The kernel-internal states share their displayed names with real ones; those resolve to
    # the real state, so only their own enum name is expected to reach them.
    for info in STATES.values():
        internal = info.state in (TcpState.NEW_SYN_RECV, TcpState.BOUND_INACTIVE)
        aliases = (info.state.name,) if internal else state_aliases(info)
        pairs += [(alias, info.state.name) for alias in aliases]
    return pairs


@pytest.mark.parametrize(("alias", "name"), _expected_aliases())
def test_every_alias_resolves_to_its_own_entry(alias: str, name: str) -> None:
    assert explain(alias).name == name


def test_all_names_covers_every_catalogue_once() -> None:
    names = all_names()
    assert len(names) == len(set(names)) == len(SYSCTLS) + len(COUNTERS) + len(STATES)
    assert "net.core.somaxconn" in names
    assert "TcpExtListenOverflows" in names
    assert "CLOSE_WAIT" in names


@pytest.mark.parametrize("name", all_names())
def test_every_entry_is_documented_and_serialisable(name: str) -> None:
    entry = explain(name)
    assert entry.name == name
    data = entry_to_dict(entry, V618)
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == entry.kind.value and data["name"] == name
    assert isinstance(data["meaning"], str) and data["meaning"]
    assert isinstance(data["kernel_model"], str) and data["kernel_model"]


def test_sysctl_dict_has_version_default_and_history() -> None:
    data = entry_to_dict(explain("ip_local_port_range"), (4, 1))
    assert data["default"] == [32768, 61000]
    assert data["kernel_version"] == "4.1"
    assert data["defaults_by_version"] == [
        {"since": "2.6", "value": [32768, 61000]},
        {"since": "4.2", "value": [32768, 60999]},
    ]
    recycle = explain("tcp_tw_recycle")
    assert entry_to_dict(recycle, V618)["default"] is None
    assert entry_to_dict(recycle, V618)["exists"] is False
    assert entry_to_dict(recycle, (4, 11))["default"] == 0
    claims = entry_to_dict(explain("somaxconn"), V618)["seed_claims"]
    assert isinstance(claims, list)
    assert [c["verdict"] for c in claims] == ["right", "outdated", "wrong"]


def test_counter_and_state_dicts() -> None:
    counter = entry_to_dict(explain("ListenDrops"), V618)
    assert counter["file"] == "/proc/net/netstat"
    assert counter["netstat_s"] == "{n} SYNs to LISTEN sockets dropped"
    state = entry_to_dict(explain("new_syn_recv"), V618)
    assert (state["number"], state["proc_st"], state["ss_name"]) == (12, "03", "SYN-RECV")


def _render(term: str, version: tuple[int, int] = V618) -> str:
    console = Console(width=100, record=True, color_system=None)
    console.print(render_entry(explain(term), version))
    return console.export_text()


@pytest.mark.parametrize("name", all_names())
def test_every_entry_renders_with_its_name(name: str) -> None:
    text = _render(name)
    assert name in text
    assert "kernel-model" in text


def test_sysctl_rendering_shows_version_default_and_verdicts() -> None:
    text = _render("somaxconn")
    assert "default on 6.18" in text and "4096" in text
    assert "2.6+: 128; 5.4+: 4096" in text
    for verdict in ("right", "outdated", "wrong"):
        assert verdict in text
    old = _render("somaxconn", (5, 3))
    assert "default on 5.3" in old


def test_removed_sysctl_renders_as_absent() -> None:
    assert "absent" in _render("tcp_tw_recycle")
    assert "absent" not in _render("tcp_tw_recycle", (4, 11)).split("by version")[0]


def test_counter_rendering_shows_netstat_wording() -> None:
    text = _render("ListenOverflows")
    assert "N times the listen queue of a socket overflowed" in text
    assert "/proc/net/netstat" in text


def test_state_rendering_shows_proc_and_ss_names() -> None:
    text = _render("NEW_SYN_RECV")
    assert "st 03" in text and "SYN-RECV" in text
