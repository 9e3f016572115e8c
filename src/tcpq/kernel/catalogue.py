"""One lookup for every catalogue of kernel facts: aliases, normalised spellings, suggestions.

Sysctls, counters and states differ in what they record, not in how people name them: each
entry has a canonical name and a few spellings seen in tools and blog posts, and a lookup
must meet all of them whatever the case or separators. The entries themselves are data
(`sysctl_data`, `counter_data`, `state_data`); this module is the code they share.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

_PROC_PREFIXES = ("/proc/sys/", "proc/sys/")
_STRIP = re.compile(r"[\s._/:-]+")


def normalize(name: str) -> str:
    """Fold a user's spelling so 'net/core/somaxconn', 'NET.CORE.SOMAXCONN' and typos like
    'net.ipv4_tcpsynack_retries' meet on one key."""
    text = name.strip().lower()
    for prefix in _PROC_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return _STRIP.sub("", text)


class Catalogue(Generic[T]):
    """Entries in their catalogue order, found by any of their spellings.

    Where two entries share a spelling the earlier one keeps it (the states catalogue lists
    real states before the kernel-internal ones that display under the same names).
    """

    def __init__(
        self,
        kind: str,
        entries: Iterable[T],
        name: Callable[[T], str],
        aliases: Callable[[T], tuple[str, ...]],
    ) -> None:
        self.kind = kind
        self.entries: tuple[T, ...] = tuple(entries)
        self.name = name
        self.aliases = aliases
        self._index: dict[str, T] = {}
        # normalised spelling -> the spelling as written, so suggestions read like real names
        self._spelling: dict[str, str] = {}
        for entry in self.entries:
            for alias in aliases(entry):
                key = normalize(alias)
                if key not in self._index:
                    self._index[key] = entry
                    self._spelling[key] = alias

    def by_name(self) -> dict[str, T]:
        """Every entry under its canonical name, in catalogue order."""
        return {self.name(entry): entry for entry in self.entries}

    def get(self, spelling: str) -> T | None:
        """The entry `spelling` names, ignoring case and separators; None if none does."""
        return self._index.get(normalize(spelling))

    def find(self, spelling: str) -> T:
        """As get(), but a miss is a KeyError naming the kind ('unknown sysctl: ...')."""
        entry = self.get(spelling)
        if entry is None:
            raise KeyError(f"unknown {self.kind}: {spelling!r}")
        return entry

    def suggest(self, spelling: str, limit: int, cutoff: float) -> list[str]:
        """Up to `limit` spellings of distinct entries near `spelling`, nearest first."""
        key = normalize(spelling)
        if not key:
            return []
        import difflib  # ~7 ms, and only a miss needs it: not on every lookup

        keys = list(self._index)
        suggestions: list[str] = []
        seen: set[str] = set()
        for match in difflib.get_close_matches(key, keys, n=len(keys), cutoff=cutoff):
            name = self.name(self._index[match])
            if name in seen:
                continue
            seen.add(name)
            suggestions.append(self._spelling[match])
            if len(suggestions) == limit:
                break
        return suggestions
