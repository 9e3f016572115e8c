"""Fixed log-spaced histograms of connect and response times, for sim and lab alike.

The buckets are the same for every run, so two runs (model and kernel) can be drawn and
compared bucket by bucket, and a distribution can be read back from a saved JSON result:

- `counts[0]`: values below LOWEST_S (1 µs), zero included;
- `counts[i]`, 1 ≤ i ≤ BUCKETS: values in [LOWEST_S·10^((i-1)/PER_DECADE), LOWEST_S·10^(i/PER_DECADE));
- `counts[BUCKETS + 1]`: values at or above HIGHEST_S (1000 s).

20 buckets a decade (each 12 % wider than the one before) tell the kernel's SYN retransmission
steps apart (1 s, 3 s, 7 s ... after the first SYN) and still resolve sub-millisecond handshakes.
"""

from collections.abc import Sequence

import numpy as np

from tcpq.model.constants import US_PER_S
from tcpq.types import Histogram

LOWEST_S = 1e-6
PER_DECADE = 20
DECADES = 9  # 1 µs .. 1000 s
BUCKETS = PER_DECADE * DECADES
HIGHEST_S = LOWEST_S * 10**DECADES


def edges_s() -> list[float]:
    """The BUCKETS + 1 bucket edges, lowest first (the first is LOWEST_S, the last HIGHEST_S)."""
    return [LOWEST_S * 10 ** (k / PER_DECADE) for k in range(BUCKETS + 1)]


Floats = np.ndarray[tuple[int], np.dtype[np.float64]]
Ints = np.ndarray[tuple[int], np.dtype[np.int64]]


def _indices(values_s: Floats) -> Ints:
    """Which entry of `counts` each value falls in (vectorised: a run can hold millions)."""
    with np.errstate(divide="ignore"):
        # floor of the bucket position; the epsilon keeps a value on an edge in the upper bucket
        position = np.floor(np.log10(np.maximum(values_s, 0.0) / LOWEST_S) * PER_DECADE + 1e-9)
    inside = np.clip(position, 0, BUCKETS - 1).astype(np.int64) + 1
    return np.where(values_s < LOWEST_S, 0, np.where(values_s >= HIGHEST_S, BUCKETS + 1, inside))


def bucket_index(value_s: float) -> int:
    """Which entry of `counts` a value falls in."""
    return int(_indices(np.asarray([value_s], dtype=np.float64))[0])


CHUNK = 1 << 20  # values binned at a time: each temporary array is 8 MB, not 8 bytes a sample


def histogram(samples_us: Sequence[int]) -> Histogram:
    """The histogram of times given in microseconds."""
    samples = np.asarray(samples_us, dtype=np.int64)  # the simulator's array: read in place
    counts = np.zeros(BUCKETS + 2, dtype=np.int64)
    for start in range(0, len(samples), CHUNK):
        values = samples[start : start + CHUNK] / US_PER_S
        counts += np.bincount(_indices(values), minlength=BUCKETS + 2)
    return Histogram(LOWEST_S, PER_DECADE, [int(count) for count in counts])


def bucket_bounds(index: int) -> tuple[float, float]:
    """The [low, high) seconds of entry `index` of `counts` (0 and inf for the open ends)."""
    edges = edges_s()
    low = 0.0 if index == 0 else edges[index - 1]
    high = float("inf") if index > BUCKETS else edges[index]
    return low, high


def quantile_bucket(hist: Histogram, q: float) -> int:
    """The entry holding the q-quantile (inverted CDF: the sample of rank ⌈q·n⌉), or -1 if empty."""
    total = sum(hist.counts)
    if total == 0:
        return -1
    rank = max(1, int(np.ceil(q * total - 1e-9)))
    seen = 0
    for index, count in enumerate(hist.counts):
        seen += count
        if seen >= rank:
            return index
    return len(hist.counts) - 1


def share_at_or_below(hist: Histogram, value_s: float, *, bound: str) -> float:
    """The share of samples ≤ value_s, bounded by what the buckets can tell: "lower" counts only
    the buckets wholly at or below it, "upper" every bucket that starts at or below it."""
    total = sum(hist.counts)
    if total == 0:
        return 0.0
    seen = 0
    for index, count in enumerate(hist.counts):
        low, high = bucket_bounds(index)
        inside = high <= value_s if bound == "lower" else low <= value_s
        if inside:
            seen += count
    return seen / total
