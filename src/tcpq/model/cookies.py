"""SYN cookies: when they are used, how long they stay valid, what a cookie loses (kernel-model §7)."""

from dataclasses import dataclass
from enum import IntEnum

from tcpq.model.constants import (
    COOKIE_MSS_V4,
    COOKIE_MSS_V6,
    MAX_SYNCOOKIE_AGE,
    SYNCOOKIE_TICK_US,
    TCP_SYNCOOKIE_VALID_US,
)


class CookieMode(IntEnum):
    """net.ipv4.tcp_syncookies (kernel-model §7.1)."""

    NEVER = 0
    ON_OVERFLOW = 1
    ALWAYS = 2


@dataclass(frozen=True, slots=True)
class CookieOptions:
    """What survives a cookie handshake (kernel-model §7.3)."""

    mss: int
    window_scaling: bool
    sack: bool
    ecn: bool


def cookie_v4_init_sequence_mss(mss: int, ipv6: bool = False) -> int:
    """The MSS a cookie can carry: rounded down to the msstab entry (kernel-model §7.2)."""
    table = COOKIE_MSS_V6 if ipv6 else COOKIE_MSS_V4
    fitting = [value for value in table if value <= mss]
    return fitting[-1] if fitting else table[0]


def cookie_options(
    mss: int, syn_has_timestamps: bool, wscale: bool = True, sack: bool = True, ecn: bool = False
) -> CookieOptions:
    """Options kept: encoded in the TSval when the SYN had timestamps, otherwise all lost (§7.3)."""
    kept = syn_has_timestamps
    return CookieOptions(
        mss=cookie_v4_init_sequence_mss(mss),
        window_scaling=wscale and kept,
        sack=sack and kept,
        ecn=ecn and kept,
    )


def cookie_is_fresh(issued_us: int, now: int) -> bool:
    """The cookie's minute counter is less than MAX_SYNCOOKIE_AGE behind (kernel-model §7.4)."""
    return now // SYNCOOKIE_TICK_US - issued_us // SYNCOOKIE_TICK_US < MAX_SYNCOOKIE_AGE


def tcp_synq_no_recent_overflow(last_overflow_us: int | None, now: int) -> bool:
    """No cookie sent by this listener within TCP_SYNCOOKIE_VALID (kernel-model §6.1)."""
    return last_overflow_us is None or now > last_overflow_us + TCP_SYNCOOKIE_VALID_US
