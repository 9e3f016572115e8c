"""The timer wheel (kernel/time/timer.c) and the host timing inputs (model/timing.py)."""

from hypothesis import given
from hypothesis import strategies as st

from tcpq.model.timing import IDEAL_HOST, REFERENCE_HOST, timer_wheel_expiry

TICK_US = 4000  # HZ = 250


def synack_schedule(hz: int, retries: int = 5) -> list[int]:
    """The request timer re-armed at firing time + 1 s << n, as reqsk_timer_handler does."""
    times, now = [], 0
    for n in range(retries):
        now = timer_wheel_expiry(now, 1_000_000 << n, hz)
        times.append(now)
    return times


def test_synack_schedule_matches_the_measured_one() -> None:
    """kernel-model §3.5 measured 1.013, 3.029, 7.189, 15.381, 31.509 s on 6.18.44 (HZ=250):
    each firing rounded up to its level's granularity (32 ms, then 256 ms), drifting like it."""
    fired = synack_schedule(250)
    measured = [1_013_000, 3_029_000, 7_189_000, 15_381_000, 31_509_000]
    assert fired == [1_024_000, 3_040_000, 7_168_000, 15_360_000, 31_488_000]
    assert all(abs(f - m) <= 32_000 for f, m in zip(fired, measured, strict=True))


def test_ideal_timers_keep_the_exact_schedule() -> None:
    assert synack_schedule(0) == [1_000_000, 3_000_000, 7_000_000, 15_000_000, 31_000_000]


@given(st.integers(0, 10**9), st.integers(1, 200_000_000))
def test_a_timer_never_fires_early_nor_later_than_its_granularity(now: int, delay: int) -> None:
    fired = timer_wheel_expiry(now, delay, 250)
    assert fired >= now + delay
    delta_j = -(-delay // TICK_US)
    granularity_j = 1
    while delta_j >= 63 * granularity_j and granularity_j < 8**8:
        granularity_j *= 8
    assert fired - (now + delay) <= (granularity_j + 1) * TICK_US
    assert fired % (granularity_j * TICK_US) == 0


def test_timers_armed_within_one_granule_fire_together() -> None:
    """Why dropped clients retransmit as one batch: 1 s timers armed in jiffies 0–5 all expire
    in jiffies 250–255, one 8-jiffy bucket; one armed in jiffy 6 goes to the next."""
    fired = {timer_wheel_expiry(start, 1_000_000, 250) for start in range(0, 24_000, 85)}
    assert fired == {1_024_000}
    assert timer_wheel_expiry(24_000, 1_000_000, 250) == 1_056_000


def test_ideal_host_is_ideal_and_the_reference_is_not() -> None:
    assert IDEAL_HOST.ideal
    assert not REFERENCE_HOST.ideal
    assert REFERENCE_HOST.hz == 250 and 0 < REFERENCE_HOST.behind_client < 1
