"""TCP states: the kernel's numbering (as its own tracepoint prints it), tool names, lookups
(kernel-model §10)."""

import re
from pathlib import Path

import pytest

from tcpq.kernel.states import STATES, TcpState, find_state

# The kernel's own name for each number: sock:inet_sock_set_state prints states with
# __print_symbolic over include/net/tcp_states.h (show_tcp_state_name in
# include/trace/events/sock.h). The live format file when tracefs is mounted, else the copy
# recorded from 6.18.44 (tests/data, kernel-model §0 [RUN]).
LIVE_FORMATS = (
    Path("/sys/kernel/tracing/events/sock/inet_sock_set_state/format"),
    Path("/sys/kernel/debug/tracing/events/sock/inet_sock_set_state/format"),
)
RECORDED = Path(__file__).resolve().parent.parent / "data" / "tracefs-formats-6.18.txt"
SYMBOL = re.compile(r'\{ (\d+), "TCP_([A-Z0-9_]+)" \}')


def _format_text() -> str:
    for path in LIVE_FORMATS:
        try:
            return path.read_text(encoding="ascii")
        except OSError:  # tracefs not mounted, or not readable without root
            continue
    recorded = RECORDED.read_text(encoding="ascii")
    start = recorded.index("=== events/sock/inet_sock_set_state")
    end = recorded.index("\n=== ", start + 1)
    return recorded[start:end]


def kernel_state_names() -> dict[str, int]:
    """Name -> number as the tracepoint's newstate field prints them."""
    text = _format_text()
    newstate = text[text.index("__print_symbolic(REC->newstate") :]
    newstate = newstate[: newstate.index(")")]
    return {name: int(number) for number, name in SYMBOL.findall(newstate)}


def test_numbering_matches_the_kernels() -> None:
    named = kernel_state_names()
    assert len(named) >= 12, named  # ESTABLISHED .. NEW_SYN_RECV
    for name, number in named.items():
        assert TcpState[name].value == number
    # BOUND_INACTIVE is only an inet_diag filter, never a socket's state, so the tracepoint
    # does not name it: include/net/tcp_states.h puts it right after NEW_SYN_RECV (6.8+).
    assert set(TcpState.__members__) - set(named) <= {"BOUND_INACTIVE"}
    assert TcpState.BOUND_INACTIVE.value == TcpState.NEW_SYN_RECV.value + 1


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
