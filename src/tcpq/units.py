"""Units in scenario files: durations ("3.5s", "2ms"), rates ("200/s", "5k/s"), service times.

Times are integer microseconds everywhere inside tcpq, so schedules such as 1, 3, 7, 15 s are
exact and ties resolve the same way on every run.
"""

import re
from enum import StrEnum

from tcpq.model.constants import US_PER_MS, US_PER_S
from tcpq.records import frozen

US_PER_UNIT = {"us": 1, "µs": 1, "ms": US_PER_MS, "s": US_PER_S, "min": 60 * US_PER_S, "h": 3600 * US_PER_S}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*(us|µs|ms|s|min|h)\s*$")
_FINE_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*(ns|us|µs)\s*$")
_RATE_RE = re.compile(rf"^\s*({_NUMBER})\s*([kKM]?)\s*/\s*(us|ms|s|min|h)\s*$")
_MULTIPLIER = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6}


def parse_duration(text: str) -> int:
    """'3.5s' → 3_500_000 µs. Raises ValueError naming the accepted units."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (use e.g. '3.5s', '200ms', '50us', '2min')")
    return round(float(match.group(1)) * US_PER_UNIT[match.group(3)])


def parse_duration_ns(text: str) -> int:
    """'2.3us' or '950ns' → integer nanoseconds: the stack's time per packet is a few µs and
    its fraction matters (a wave of 200 packets at 2.3 µs is not one at 2 µs)."""
    match = _FINE_DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a short duration (use e.g. '2.3us' or '950ns')")
    return round(float(match.group(1)) * (1 if match.group(3) == "ns" else 1000))


def parse_rate(text: str) -> float:
    """'5k/s' → 5000.0 events per second."""
    match = _RATE_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate (use e.g. '200/s', '5k/s', '30/min')")
    per_us = float(match.group(1)) * _MULTIPLIER[match.group(3)] / US_PER_UNIT[match.group(4)]
    return per_us * US_PER_S


class Distribution(StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exp"


@frozen
class ServiceTime:
    """A fixed or exponentially distributed time, written '10ms' or 'exp:10ms' (mean)."""

    distribution: Distribution
    mean_us: int


def parse_service_time(text: str) -> ServiceTime:
    kind, sep, rest = text.partition(":")
    if not sep:
        return ServiceTime(Distribution.FIXED, parse_duration(text))
    if kind.strip() != "exp":
        raise ValueError(f"{text!r}: unknown distribution {kind!r} (use '10ms' or 'exp:10ms')")
    return ServiceTime(Distribution.EXPONENTIAL, parse_duration(rest))


def format_duration(us: int) -> str:
    if us % US_PER_S == 0:
        return f"{us // US_PER_S}s"
    if us % US_PER_MS == 0:
        return f"{us // US_PER_MS}ms"
    return f"{us}us"
