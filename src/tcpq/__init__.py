"""tcpq: Linux TCP connection establishment, visible, explainable, predictable and reproducible."""

__version__ = "0.1.0"
