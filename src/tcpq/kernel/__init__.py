"""Facts about Linux as data: sysctls, counters, states and per-version behaviour profiles."""
