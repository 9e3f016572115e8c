"""TCP states: kernel numbering, tool names and lookups (kernel-model §10)."""

import pytest

from tcpq.kernel.states import STATES, TcpState, find_state

# include/net/tcp_states.h
KERNEL_NUMBERS = {
    "ESTABLISHED": 1,
    "SYN_SENT": 2,
    "SYN_RECV": 3,
    "FIN_WAIT1": 4,
    "FIN_WAIT2": 5,
    "TIME_WAIT": 6,
    "CLOSE": 7,
    "CLOSE_WAIT": 8,
    "LAST_ACK": 9,
    "LISTEN": 10,
    "CLOSING": 11,
    "NEW_SYN_RECV": 12,
    "BOUND_INACTIVE": 13,
}


def test_numbering_matches_tcp_states_h() -> None:
    assert {state.name: state.value for state in TcpState} == KERNEL_NUMBERS


def test_every_state_is_described() -> None:
    assert set(STATES) == set(TcpState)
    for state, info in STATES.items():
        assert info.state is state
        assert info.meaning and info.entered and info.left and info.kernel_model
        assert info.ss_name


@pytest.mark.parametrize(
    ("spelling", "state"),
    [
        ("close_wait", TcpState.CLOSE_WAIT),
        ("CLOSE-WAIT", TcpState.CLOSE_WAIT),
        ("close wait", TcpState.CLOSE_WAIT),
        ("8", TcpState.CLOSE_WAIT),
        ("08", TcpState.CLOSE_WAIT),
        ("time_wait", TcpState.TIME_WAIT),
        ("TIME-WAIT", TcpState.TIME_WAIT),
        ("syn-recv", TcpState.SYN_RECV),
        ("SYN_RECV", TcpState.SYN_RECV),
        ("new_syn_recv", TcpState.NEW_SYN_RECV),
        ("estab", TcpState.ESTABLISHED),
        ("established", TcpState.ESTABLISHED),
        ("FIN-WAIT-1", TcpState.FIN_WAIT1),
        ("fin_wait2", TcpState.FIN_WAIT2),
        ("unconn", TcpState.CLOSE),
        ("close", TcpState.CLOSE),
        ("0A", TcpState.LISTEN),
        ("0x0b", TcpState.CLOSING),
        ("listen", TcpState.LISTEN),
        ("12", TcpState.NEW_SYN_RECV),
    ],
)
def test_find_state_accepts_tool_spellings(spelling: str, state: TcpState) -> None:
    assert find_state(spelling).state is state


@pytest.mark.parametrize("spelling", ["", "0", "14", "0x0e", "half-open", "closed wait"])
def test_find_state_rejects_unknown_names(spelling: str) -> None:
    with pytest.raises(KeyError):
        find_state(spelling)


def test_request_sockets_show_as_syn_recv() -> None:
    info = STATES[TcpState.NEW_SYN_RECV]
    assert info.ss_name == "SYN-RECV"
    assert info.netstat_name == "SYN_RECV"
    assert info.proc_st == "03"
    assert "SYN-RECV" in info.meaning


def test_proc_st_is_two_hex_digits() -> None:
    assert STATES[TcpState.LISTEN].proc_st == "0A"
    assert STATES[TcpState.ESTABLISHED].proc_st == "01"
    assert STATES[TcpState.CLOSING].proc_st == "0B"


def test_ss_and_netstat_names() -> None:
    assert STATES[TcpState.ESTABLISHED].ss_name == "ESTAB"
    assert STATES[TcpState.CLOSE].ss_name == "UNCONN"
    assert STATES[TcpState.CLOSE].netstat_name == "CLOSE"
    assert STATES[TcpState.FIN_WAIT1].ss_name == "FIN-WAIT-1"
    assert STATES[TcpState.FIN_WAIT1].netstat_name == "FIN_WAIT1"
    assert STATES[TcpState.BOUND_INACTIVE].netstat_name == ""
