"""The generic catalogue (aliases, normalisation, lookup, suggestions) and the data modules
it serves: entries only, so their exemption from the size limit covers no code."""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcpq.kernel import counter_data, state_data, sysctl_data, sysctl_timer_data
from tcpq.kernel.catalogue import Catalogue, normalize
from tcpq.kernel.counters import COUNTER_CATALOGUE
from tcpq.kernel.states import STATE_CATALOGUE
from tcpq.kernel.sysctls import SYSCTL_CATALOGUE

DATA_MODULES = [sysctl_data, sysctl_timer_data, counter_data, state_data]


@dataclass(frozen=True)
class Item:
    name: str
    spellings: tuple[str, ...]


def _catalogue(*items: Item) -> Catalogue[Item]:
    return Catalogue("item", items, lambda i: i.name, lambda i: (i.name, *i.spellings))


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("net.core.somaxconn", "netcoresomaxconn"),
        ("/proc/sys/net/core/somaxconn", "netcoresomaxconn"),
        ("  NET/Core/SOMAXCONN ", "netcoresomaxconn"),
        ("CLOSE-WAIT", "closewait"),
        ("close wait", "closewait"),
        ("TcpExt.ListenOverflows", "tcpextlistenoverflows"),
    ],
)
def test_normalize_folds_case_separators_and_the_proc_prefix(spelling: str, key: str) -> None:
    assert normalize(spelling) == key
    assert normalize(key) == key


def test_the_first_entry_keeps_a_shared_spelling() -> None:
    real, internal = Item("SYN_RECV", ("SYN-RECV",)), Item("NEW_SYN_RECV", ("SYN-RECV",))
    catalogue = _catalogue(real, internal)
    assert catalogue.find("syn-recv") is real
    assert catalogue.find("new_syn_recv") is internal
    assert list(catalogue.by_name()) == ["SYN_RECV", "NEW_SYN_RECV"]


def test_a_miss_names_the_kind_and_the_spelling() -> None:
    catalogue = _catalogue(Item("alpha", ()))
    assert catalogue.get("beta") is None
    with pytest.raises(KeyError, match="unknown item: 'beta'"):
        catalogue.find("beta")


def test_suggestions_are_distinct_entries_as_written_nearest_first() -> None:
    catalogue = _catalogue(
        Item("net.core.somaxconn", ("somaxconn",)), Item("net.core.somaxconnx", ()), Item("rmem", ())
    )
    assert catalogue.suggest("somaxcon", limit=5, cutoff=0.6) == ["somaxconn", "net.core.somaxconnx"]
    assert catalogue.suggest("somaxcon", limit=1, cutoff=0.6) == ["somaxconn"]
    assert catalogue.suggest("", limit=5, cutoff=0.6) == []


@pytest.mark.parametrize("catalogue", [SYSCTL_CATALOGUE, COUNTER_CATALOGUE, STATE_CATALOGUE])
def test_each_kind_keeps_every_entry_under_a_distinct_name(catalogue: Catalogue[object]) -> None:
    names = [catalogue.name(entry) for entry in catalogue.entries]
    assert len(names) == len(set(names)) == len(catalogue.by_name())
    for entry in catalogue.entries:
        assert catalogue.find(catalogue.name(entry)) is entry


@pytest.mark.parametrize("module", DATA_MODULES, ids=lambda m: m.__name__)
def test_data_modules_hold_entries_only(module: object) -> None:
    """No function, class or control flow: the only statements are imports and assignments."""
    path = Path(str(getattr(module, "__file__", "")))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body  # the docstring
    for node in body:
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)), (
            f"{path.name}:{node.lineno}: {type(node).__name__}"
        )
    assert "ENTRIES" in vars(module)
