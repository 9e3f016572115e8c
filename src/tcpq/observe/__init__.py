"""Live readers of a running host: sockets, counters, sysctls, processes and namespaces."""
