"""The Prometheus exporter: the metric contract (metrics.py) and the server that scrapes (server.py)."""
