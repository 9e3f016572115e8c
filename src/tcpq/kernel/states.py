"""TCP socket states with the kernel's numbering and the names each tool prints.

The numbers are those of include/net/tcp_states.h, which /proc/net/tcp prints in hex in its
"st" column and inet_diag reports to `ss`. Two states are kernel-internal: half-open requests
(NEW_SYN_RECV) are reported as SYN_RECV, and BOUND_INACTIVE is only a filter for `ss -B`.
The entries are in `state_data`.
"""

from __future__ import annotations

import re

from tcpq.kernel.catalogue import Catalogue
from tcpq.kernel.entries import StateInfo, TcpState
from tcpq.kernel.state_data import ENTRIES

__all__ = ["STATES", "STATE_CATALOGUE", "StateInfo", "TcpState", "find_state", "state_aliases"]


def state_aliases(info: StateInfo) -> tuple[str, ...]:
    """Every spelling that names `info`, canonical (the kernel's enum name) first."""
    names = [info.state.name, info.ss_name, info.netstat_name]
    return tuple(name for name in names if name)


STATE_CATALOGUE: Catalogue[StateInfo] = Catalogue("TCP state", ENTRIES, lambda i: i.state.name, state_aliases)
STATES: dict[TcpState, StateInfo] = {info.state: info for info in STATE_CATALOGUE.entries}

_DECIMAL = re.compile(r"[0-9]+")
_PROC_HEX = re.compile(r"0x[0-9a-f]+|0[0-9a-f]")


def state_number(name: str) -> int | None:
    """The number `name` spells as decimal ("10") or /proc hex ("0A", "0x0a"); None otherwise."""
    text = name.strip().lower()
    if _DECIMAL.fullmatch(text):
        return int(text)
    if _PROC_HEX.fullmatch(text):
        return int(text, 16)
    return None


def find_state(name: str) -> StateInfo:
    """Look a state up by kernel, ss or netstat name, decimal number or /proc hex ("0A");
    KeyError if unknown."""
    number = state_number(name)
    if number is None:
        return STATE_CATALOGUE.find(name)
    try:
        return STATES[TcpState(number)]
    except ValueError:
        raise KeyError(f"unknown TCP state number: {name!r}") from None
