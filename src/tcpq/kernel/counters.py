"""The counter catalogue: its entries (`counter_data`) looked up by nstat, kernel or MIB name.

Names are the kernel's own (`nstat` prefixes the group: TcpExtListenOverflows), so every figure
`tcpq` shows can be checked with `nstat` or `netstat -s`. The `netstat -s` wording is taken from
net-tools 2.10 (statistics.c): it looks names up with bsearch() in a table that is not fully
sorted, so some counters it has a sentence for (TCPTimeouts, TWKilled) are printed raw as
"Name: N" anyway, and counters it does not know are printed raw only when non-zero.
"""

from __future__ import annotations

from tcpq.kernel.catalogue import Catalogue
from tcpq.kernel.counter_data import ENTRIES
from tcpq.kernel.entries import Counter, CounterFile

__all__ = ["COUNTERS", "COUNTER_CATALOGUE", "Counter", "CounterFile", "counter_aliases", "find_counter"]


def counter_aliases(counter: Counter) -> tuple[str, ...]:
    """Every spelling that names `counter`, canonical (nstat) first."""
    names = (counter.nstat, counter.kernel_name, f"{counter.group}.{counter.kernel_name}")
    return (*names, counter.mib) if counter.mib else names


COUNTER_CATALOGUE: Catalogue[Counter] = Catalogue("counter", ENTRIES, lambda c: c.nstat, counter_aliases)
COUNTERS: dict[str, Counter] = COUNTER_CATALOGUE.by_name()


def find_counter(name: str) -> Counter:
    """Look a counter up by nstat name, kernel name or MIB name, ignoring case; KeyError if unknown."""
    return COUNTER_CATALOGUE.find(name)
