"""The sysctl catalogue: its entries (`sysctl_data`) looked up by any spelling people use."""

from __future__ import annotations

from tcpq.kernel.catalogue import Catalogue
from tcpq.kernel.entries import DefaultSince, Scope, SeedClaim, Sysctl, SysctlValue, Verdict
from tcpq.kernel.sysctl_data import ENTRIES

__all__ = [
    "SYSCTLS",
    "SYSCTL_CATALOGUE",
    "DefaultSince",
    "Scope",
    "SeedClaim",
    "Sysctl",
    "SysctlValue",
    "Verdict",
    "find_sysctl",
    "sysctl_aliases",
]


def sysctl_aliases(sysctl: Sysctl) -> tuple[str, ...]:
    """Every spelling that names `sysctl`, canonical first."""
    return (sysctl.name, sysctl.short_name, sysctl.name.replace(".", "/"), *sysctl.aliases)


SYSCTL_CATALOGUE: Catalogue[Sysctl] = Catalogue("sysctl", ENTRIES, lambda s: s.name, sysctl_aliases)
SYSCTLS: dict[str, Sysctl] = SYSCTL_CATALOGUE.by_name()


def find_sysctl(name: str) -> Sysctl:
    """Look a sysctl up by dotted, short or slash name, ignoring case; KeyError if unknown."""
    return SYSCTL_CATALOGUE.find(name)
