"""Arrival times of clients and attack SYNs (integer µs), drawn once from the seeded RNG: the
simulator feeds them to the model and the lab replays the same draws on the real kernel."""

import numpy as np
import numpy.typing as npt

from tcpq.model.constants import US_PER_S
from tcpq.scenario import AttackSection, ClientGroup


def arrival_times(
    group: ClientGroup | AttackSection, duration_us: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Sorted start times inside [0, duration] for one client group or the attack."""
    if group.count is not None:
        if group.at > duration_us:
            return np.zeros(0, dtype=np.int64)
        return np.full(group.count, group.at, dtype=np.int64)
    assert group.rate is not None
    start = group.from_
    end = duration_us if group.until is None else min(group.until, duration_us)
    if end <= start:
        return np.zeros(0, dtype=np.int64)
    span_s = (end - start) / US_PER_S
    poisson = isinstance(group, ClientGroup) and group.arrival == "poisson"
    # In place where it can be: 20 million arrivals are 160 MB an array, and every temporary
    # one is a peak of the run's memory (the same values as out-of-place operations).
    if poisson:
        n = int(rng.poisson(group.rate * span_s))
        offsets = rng.random(n)
        offsets.sort()
        offsets *= end - start
    else:
        n = int(group.rate * span_s)
        offsets = np.arange(n, dtype=np.float64)
        offsets *= US_PER_S / group.rate
    np.floor(offsets, out=offsets)
    times = offsets.astype(np.int64)
    del offsets
    times += start
    return times if not len(times) or times[-1] < end else times[times < end]
