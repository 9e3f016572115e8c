"""Kernel constants, named after their source, in microseconds where they are times."""

US_PER_MS = 1_000
US_PER_S = 1_000_000

# include/net/tcp.h: TCP_TIMEOUT_INIT, 1 s since v3.1 (3 s before; profile.initial_rto_ms).
TCP_TIMEOUT_INIT_US = 1 * US_PER_S
# include/net/tcp.h: TCP_RTO_MAX, 120 s; the default of tcp_rto_max_ms (v6.15+).
TCP_RTO_MAX_US = 120 * US_PER_S
# include/net/tcp.h: TCP_DELACK_MIN = HZ/25: the shortest delayed-ACK timer.
TCP_DELACK_MIN_US = 40_000
# include/net/tcp.h: TCP_TIMEWAIT_LEN, 60 s, not tunable (kernel-model §8.1).
TCP_TIMEWAIT_LEN_US = 60 * US_PER_S
# include/net/tcp.h: TCP_SYNCOOKIE_VALID, 2 x 60 s (kernel-model §6.1, §7.4).
TCP_SYNCOOKIE_VALID_US = 120 * US_PER_S
# net/ipv4/syncookies.c: MAX_SYNCOOKIE_AGE = 2 minute-counter ticks (kernel-model §7.4).
MAX_SYNCOOKIE_AGE = 2
SYNCOOKIE_TICK_US = 60 * US_PER_S
# include/net/inet_connection_sock.h / reqsk_timer_handler(): pruning starts at max(8, backlog).
REQSK_PRUNE_FLOOR = 8
# reqsk_timer_handler(): pruning never cuts the SYN-ACK retry budget below 2.
REQSK_MIN_RETRIES = 2
# inet_twsk_schedule(): a TW timer armed with <= 4 s counts TWKilled, otherwise TW (§8.3).
TW_KILL_THRESHOLD_US = 4 * US_PER_S
# net/ipv4/syncookies.c msstab: MSS values a v4 cookie can encode (kernel-model §7.2).
COOKIE_MSS_V4 = (536, 1300, 1440, 1460)
COOKIE_MSS_V6 = (1220, 1420, 1440, 8940)
