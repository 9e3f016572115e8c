"""The address cache both socket readers share (observe/sockets.py AddressNames)."""

import socket
from pathlib import Path

import pytest

from tcpq.observe import sockets
from tcpq.observe.inet_diag import AddressCache
from tcpq.observe.sockets import AddressNames, parse_proc_net_tcp

DATA = Path(__file__).resolve().parent / "data"
FILES = [(socket.AF_INET, "proc_net_tcp"), (socket.AF_INET6, "proc_net_tcp6")]


def test_each_address_is_formatted_once() -> None:
    formatted: list[str] = []

    def text(raw: str) -> str:
        formatted.append(raw)
        return raw.upper()

    names = AddressNames(text)
    assert [names[raw] for raw in ("a", "b", "a", "a", "b")] == ["A", "B", "A", "A", "B"]
    assert formatted == ["a", "b"]


def test_a_full_cache_starts_again_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "ADDRESS_CACHE_MAX", 2)
    formatted: list[str] = []

    def text(raw: str) -> str:
        formatted.append(raw)
        return raw.upper()

    names = AddressNames(text)
    assert [names[raw] for raw in ("a", "b", "c")] == ["A", "B", "C"]
    assert dict(names) == {"c": "C"}  # cleared before the third address went in
    assert names["a"] == "A" and formatted == ["a", "b", "c", "a"]


@pytest.mark.parametrize("family, name", FILES)
def test_records_do_not_depend_on_the_cache_bound(
    monkeypatch: pytest.MonkeyPatch, family: int, name: str
) -> None:
    text = (DATA / name).read_text(encoding="ascii")
    roomy = list(parse_proc_net_tcp(text, family))
    monkeypatch.setattr(sockets, "ADDRESS_CACHE_MAX", 1)  # every new address empties the cache
    assert list(parse_proc_net_tcp(text, family)) == roomy
    assert len({record.local for record in roomy} | {record.remote for record in roomy}) > 1


def test_netlink_caches_read_an_ipv4_address_from_the_first_four_bytes() -> None:
    cache = AddressCache.empty()
    field = socket.inet_pton(socket.AF_INET, "127.0.0.1") + bytes(12)
    assert cache.ipv4[field] == "127.0.0.1"
    assert cache.ipv6[socket.inet_pton(socket.AF_INET6, "::1")] == "::1"
    assert cache.ipv6[field] == "7f00:1::"  # the same bytes read as IPv6: why each family has its own
