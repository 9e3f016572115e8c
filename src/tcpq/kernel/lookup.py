"""One lookup over the sysctl, counter and state catalogues, for `tcpq explain TERM`.

Users type whatever spelling they saw (`sysctl -a`, `nstat`, `netstat -s`, `ss`, a blog post),
so every alias of every entry goes into one index; a miss suggests the nearest spellings.
"""

from __future__ import annotations

from enum import StrEnum

from tcpq.errors import UnknownTerm
from tcpq.kernel.catalogue import Catalogue
from tcpq.kernel.counters import COUNTERS, Counter, counter_aliases
from tcpq.kernel.states import STATES, StateInfo, find_state, state_aliases
from tcpq.kernel.sysctls import SYSCTLS, Sysctl, SysctlValue, sysctl_aliases
from tcpq.kernel.versions import KernelVersion, format_version
from tcpq.records import frozen

MAX_SUGGESTIONS = 5
SUGGESTION_CUTOFF = 0.6


class EntryKind(StrEnum):
    SYSCTL = "sysctl"
    COUNTER = "counter"
    STATE = "state"


@frozen
class Entry:
    """A catalogue item found by `explain`, tagged with its kind and canonical name."""

    kind: EntryKind
    name: str
    item: Sysctl | Counter | StateInfo


def _entries() -> list[Entry]:
    found = [Entry(EntryKind.SYSCTL, s.name, s) for s in SYSCTLS.values()]
    found += [Entry(EntryKind.COUNTER, c.nstat, c) for c in COUNTERS.values()]
    found += [Entry(EntryKind.STATE, i.state.name, i) for i in STATES.values()]
    return found


def _aliases(entry: Entry) -> tuple[str, ...]:
    item = entry.item
    if isinstance(item, Sysctl):
        return sysctl_aliases(item)
    if isinstance(item, Counter):
        return counter_aliases(item)
    return state_aliases(item)


# One index over all three: the first writer of a spelling wins (real states before the
# kernel-internal ones, as in the states catalogue).
_CATALOGUE: Catalogue[Entry] = Catalogue("term", _entries(), lambda e: e.name, _aliases)


def explain(term: str, version: KernelVersion | None = None) -> Entry:
    """Find the entry `term` names, whatever its spelling or case.

    `version` is accepted so callers can pass the kernel they are explaining for; the lookup
    itself ignores it on purpose, because a sysctl removed in that kernel (tcp_tw_recycle) must
    still be explainable. Raises UnknownTerm with the nearest spellings on a miss.
    """
    del version
    entry = _CATALOGUE.get(term)
    if entry is not None:
        return entry
    try:
        info = find_state(term)  # numbers and /proc hex ("0A") are not in the alias index
    except KeyError:
        raise UnknownTerm(term, _CATALOGUE.suggest(term, MAX_SUGGESTIONS, SUGGESTION_CUTOFF)) from None
    return Entry(EntryKind.STATE, info.state.name, info)


def all_names() -> list[str]:
    """Canonical names of every entry: dotted sysctls, nstat counters, kernel state names."""
    return [entry.name for entry in _CATALOGUE.entries]


TOPIC_ORDER = (EntryKind.STATE, EntryKind.COUNTER, EntryKind.SYSCTL)


def topics() -> list[Entry]:
    """Every entry `explain` knows, once each: states, counters, sysctls, in catalogue order."""
    return sorted(_CATALOGUE.entries, key=lambda entry: TOPIC_ORDER.index(entry.kind))  # stable: keeps order


def topic_to_dict(entry: Entry) -> dict[str, str]:
    """One line of `explain --list --json`."""
    return {"kind": entry.kind.value, "name": entry.name, "meaning": entry.item.meaning}


def _json_value(value: SysctlValue | None) -> int | list[int] | None:
    return list(value) if isinstance(value, tuple) else value


def entry_to_dict(entry: Entry, version: KernelVersion) -> dict[str, object]:
    """A JSON-ready description of `entry`; sysctl defaults are given for `version`."""
    base: dict[str, object] = {"kind": entry.kind.value, "name": entry.name}
    item = entry.item
    if isinstance(item, Sysctl):
        return base | {
            "short_name": item.short_name,
            "scope": item.scope.value,
            "unit": item.unit,
            "meaning": item.meaning,
            "kernel_version": format_version(version),
            "default": _json_value(item.default_for(version)),
            "exists": item.default_for(version) is not None,
            "defaults_by_version": [
                {"since": format_version(step.since), "value": _json_value(step.value)}
                for step in item.defaults
            ],
            "minimum": item.minimum,
            "maximum": item.maximum,
            "kernel_model": item.kernel_model,
            "history": item.history,
            "seed_claims": [
                {
                    "claim": claim.claim,
                    "verdict": claim.verdict.value,
                    "truth": claim.truth,
                    "since": claim.since,
                }
                for claim in item.seed_claims
            ],
            "used_by_model": item.used_by_model,
        }
    if isinstance(item, Counter):
        return base | {
            "nstat": item.nstat,
            "kernel_name": item.kernel_name,
            "group": item.group,
            "file": item.file.value,
            "mib": item.mib,
            "netstat_s": item.netstat_s,
            "meaning": item.meaning,
            "increments": item.increments,
            "kernel_model": item.kernel_model,
        }
    return base | {
        "number": item.state.value,
        "proc_st": item.proc_st,
        "ss_name": item.ss_name,
        "netstat_name": item.netstat_name,
        "meaning": item.meaning,
        "entered": item.entered,
        "left": item.left,
        "kernel_model": item.kernel_model,
        "seed_note": item.seed_note,
    }
