"""tcpq: Linux TCP connection establishment, visible, explainable, predictable and reproducible."""

import os

__version__ = "0.1.0"

# The simulator core (tcpq.sim, tcpq.model) may be compiled by mypyc (setup.py) from the same
# sources. TCPQ_PURE=1 runs those sources, the reference model, even where compiled modules sit
# beside them (an extension module wins over a .py of the same name otherwise); so does a
# compiled core older than its sources (edited since `pip install -e .`), said once on stderr.
COMPILED_PACKAGES = ("tcpq.sim", "tcpq.model")

if os.environ.get("TCPQ_PURE"):
    from tcpq.simcore import prefer_sources

    prefer_sources(COMPILED_PACKAGES)
else:
    from tcpq.simcore import say_why_not_compiled, use_sources_if_stale

    say_why_not_compiled(os.path.dirname(__file__))
    use_sources_if_stale(os.path.dirname(__file__), COMPILED_PACKAGES)
