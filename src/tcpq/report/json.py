"""JSON: the same objects the terminal renders, as plain data (never rendered text)."""

import dataclasses
import json
from enum import Enum
from typing import TYPE_CHECKING, Any

from tcpq.types import Rates, RunResult, Snapshot

if TYPE_CHECKING:
    from tcpq.compare import Comparison


def to_jsonable(value: Any) -> Any:
    """Dataclasses → dicts, enums → their value, tuples → lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def run_result_dict(result: RunResult) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(result)
    return data


def comparison_dict(sim: RunResult, lab: RunResult, comparison: "Comparison") -> dict[str, Any]:
    """`tcpq compare --json`: both results, the rows and the verdict."""
    return {
        "sim": run_result_dict(sim),
        "lab": run_result_dict(lab),
        "comparison": to_jsonable(comparison),
        "agrees": comparison.agrees,
    }


def dumps(data: Any) -> str:
    return json.dumps(to_jsonable(data), indent=2, sort_keys=False)


QUEUED_EXAMPLES = 50  # queued sockets listed in a Snapshot's JSON (`queued_total` counts all)


def snapshot_dict(snapshot: Snapshot, rates: Rates | None) -> dict[str, Any]:
    """The Snapshot JSON contract (DESIGN.md): `rates` holds counters per second, or null."""
    data: dict[str, Any] = to_jsonable(snapshot)
    data["rates"] = (
        None
        if rates is None
        else {
            "interval_s": round(rates.interval_s, 3),
            "counters_per_s": {name: round(value, 3) for name, value in rates.counters_per_s.items()},
            "counter_deltas": rates.counter_deltas,
        }
    )
    for listener in data["listeners"]:
        listener.pop("inode", None)
    # Every queued socket is kept for the doctor; the JSON names the most backed-up and counts all.
    data["queued_total"] = len(snapshot.queued)
    data["queued"] = data["queued"][:QUEUED_EXAMPLES]
    return data
