"""JSON: the same objects the terminal renders, as plain data (never rendered text)."""

import dataclasses
import json
from enum import Enum
from typing import Any

from tcpq.types import RunResult


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


def dumps(data: Any) -> str:
    return json.dumps(to_jsonable(data), indent=2, sort_keys=False)
