"""One lookup over the sysctl, counter and state catalogues, for `tcpq explain TERM`.

Users type whatever spelling they saw (`sysctl -a`, `nstat`, `netstat -s`, `ss`, a blog post),
so every alias of every entry goes into one index; a miss suggests the nearest spellings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tcpq.errors import UnknownTerm
from tcpq.kernel.counters import COUNTERS, Counter, counter_aliases
from tcpq.kernel.states import STATES, StateInfo, find_state, state_aliases
from tcpq.kernel.sysctls import SYSCTLS, Sysctl, SysctlValue, normalize, sysctl_aliases
from tcpq.kernel.versions import KernelVersion, format_version

MAX_SUGGESTIONS = 5
SUGGESTION_CUTOFF = 0.6


class EntryKind(StrEnum):
    SYSCTL = "sysctl"
    COUNTER = "counter"
    STATE = "state"


@dataclass(frozen=True)
class Entry:
    """A catalogue item found by `explain`, tagged with its kind and canonical name."""

    kind: EntryKind
    name: str
    item: Sysctl | Counter | StateInfo


def _entries() -> list[tuple[Entry, tuple[str, ...]]]:
    found: list[tuple[Entry, tuple[str, ...]]] = []
    for sysctl in SYSCTLS.values():
        found.append((Entry(EntryKind.SYSCTL, sysctl.name, sysctl), sysctl_aliases(sysctl)))
    for counter in COUNTERS.values():
        found.append((Entry(EntryKind.COUNTER, counter.nstat, counter), counter_aliases(counter)))
    for info in STATES.values():
        found.append((Entry(EntryKind.STATE, info.state.name, info), state_aliases(info)))
    return found


_ENTRIES = _entries()
_INDEX: dict[str, Entry] = {}
_SPELLING: dict[str, str] = {}  # normalised alias -> the alias as written, for suggestions
for _entry, _aliases in _ENTRIES:
    for _alias in _aliases:
        _key = normalize(_alias)
        if _key not in _INDEX:  # first writer wins: real states before kernel-internal ones
            _INDEX[_key] = _entry
            _SPELLING[_key] = _alias


def explain(term: str, version: KernelVersion | None = None) -> Entry:
    """Find the entry `term` names, whatever its spelling or case.

    `version` is accepted so callers can pass the kernel they are explaining for; the lookup
    itself ignores it on purpose, because a sysctl removed in that kernel (tcp_tw_recycle) must
    still be explainable. Raises UnknownTerm with the nearest spellings on a miss.
    """
    del version
    key = normalize(term)
    entry = _INDEX.get(key)
    if entry is not None:
        return entry
    try:
        info = find_state(term)  # numbers and /proc hex ("0A") are not in the alias index
    except KeyError:
        raise UnknownTerm(term, _suggest(key)) from None
    return Entry(EntryKind.STATE, info.state.name, info)


def _suggest(key: str) -> list[str]:
    """Up to MAX_SUGGESTIONS spellings of distinct entries, nearest first."""
    if not key:
        return []
    import difflib  # ~7 ms, and only a miss needs it: not on every `tcpq explain`

    matches = difflib.get_close_matches(key, list(_INDEX), n=len(_INDEX), cutoff=SUGGESTION_CUTOFF)
    suggestions: list[str] = []
    seen: set[str] = set()
    for match in matches:
        entry = _INDEX[match]
        if entry.name in seen:
            continue
        seen.add(entry.name)
        suggestions.append(_SPELLING[match])
        if len(suggestions) == MAX_SUGGESTIONS:
            break
    return suggestions


def all_names() -> list[str]:
    """Canonical names of every entry: dotted sysctls, nstat counters, kernel state names."""
    return [entry.name for entry, _ in _ENTRIES]


TOPIC_ORDER = (EntryKind.STATE, EntryKind.COUNTER, EntryKind.SYSCTL)


def topics() -> list[Entry]:
    """Every entry `explain` knows, once each: states, counters, sysctls, in catalogue order."""
    entries = [entry for entry, _ in _ENTRIES]
    return sorted(entries, key=lambda entry: TOPIC_ORDER.index(entry.kind))  # stable: keeps order


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
