"""Every counter and sysctl a module of src/ names is in the catalogue, so `tcpq explain` can
say what it is (issue 12: the model emitted TcpExtTCPLossProbes, which nothing explained).

The names are found with ast in every string literal of src/tcpq: a literal that is a whole
nstat name ("TcpExtListenDrops", "TcpActiveOpens") or a dotted sysctl, and the dotted sysctls
and TcpExt names written inside longer text (help, findings, docstrings).
"""

import ast
import re
from pathlib import Path

import pytest

from tcpq.kernel.counters import COUNTERS
from tcpq.kernel.sysctls import find_sysctl

SRC = Path(__file__).resolve().parent.parent / "src" / "tcpq"

# A whole literal naming a counter of the two TCP groups. "Tcp" and "TcpExt" alone are the
# group prefixes code puts names together with, not counters.
WHOLE_COUNTER = re.compile(r"(?:TcpExt|Tcp)[A-Z][A-Za-z0-9]*")
GROUPS = {"Tcp", "TcpExt"}
# Inside text only the unambiguous forms: "Tcp" + word is also a Python class name.
COUNTER_IN_TEXT = re.compile(r"\bTcpExt[A-Z][A-Za-z0-9]*")
SYSCTL_IN_TEXT = re.compile(r"\bnet\.(?:core|ipv4)(?:\.[a-z0-9_]*[a-z0-9])+(?![a-z0-9_])")
# Per-interface settings (net.ipv4.conf.DEV.rp_filter, set by the lab's sandbox) configure
# devices, not TCP: the catalogue is of the sysctls that shape connection establishment.
NOT_TCP = ("net.ipv4.conf.",)


def _not_names(tree: ast.AST) -> set[int]:
    """The constants that are not names of anything: the pieces of f-strings (a piece like
    "TcpExt" is a prefix) and the entries of `__all__` (Python names such as "TcpState")."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(value) for value in node.values)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            skipped.update(id(value) for value in ast.walk(node.value))
    return skipped


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in `path` that could name a counter or sysctl."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pieces = _not_names(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in pieces
    ]


def named_in(text: str) -> tuple[set[str], set[str]]:
    """The counter and sysctl names a string literal names."""
    counters = set(COUNTER_IN_TEXT.findall(text))
    if WHOLE_COUNTER.fullmatch(text) and text not in GROUPS:
        counters.add(text)
    sysctls = {name for name in SYSCTL_IN_TEXT.findall(text) if not name.startswith(NOT_TCP)}
    return counters, sysctls


def names_in_src() -> dict[str, set[str]]:
    """Each name, counter or sysctl, with the places (path:line) that name it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for line, text in string_literals(path):
            counters, sysctls = named_in(text)
            for name in counters | sysctls:
                found.setdefault(name, set()).add(f"{path.relative_to(SRC)}:{line}")
    return found


def test_the_scan_reads_names_and_only_names() -> None:
    assert named_in("TcpExtListenOverflows") == ({"TcpExtListenOverflows"}, set())
    assert named_in("TcpActiveOpens") == ({"TcpActiveOpens"}, set())
    assert named_in("TcpExt") == (set(), set())
    assert named_in("raise net.core.somaxconn and TcpExtListenDrops.") == (
        {"TcpExtListenDrops"},
        {"net.core.somaxconn"},
    )
    assert named_in("the TcpState enum, net.ipv4.tcp_ prefixes") == (set(), set())
    assert named_in("net.ipv4.conf.all.rp_filter") == (set(), set())
    assert named_in("net.ipv4.tcp.syncookies (sic)") == (set(), {"net.ipv4.tcp.syncookies"})


def test_the_scan_finds_what_the_model_emits() -> None:
    names = names_in_src()
    assert any(place.startswith("model/mib.py") for place in names["TcpExtListenOverflows"])
    assert "net.core.somaxconn" in names


def in_catalogue(name: str) -> bool:
    """A counter by its nstat name; a sysctl by any spelling the catalogue knows (the seeds'
    misspellings, quoted in the catalogue's own text, are aliases of real sysctls)."""
    if name.startswith("Tcp"):
        return name in COUNTERS
    try:
        find_sysctl(name)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize(("name", "places"), sorted(names_in_src().items()))
def test_every_name_in_src_is_in_the_catalogue(name: str, places: set[str]) -> None:
    assert in_catalogue(name), f"{name} (named at {', '.join(sorted(places))}) is not in the catalogue"
