"""The executable specification of the kernel's connection-establishment behaviour.

Pure: no clock, no I/O, no randomness. Functions take `now` (integer microseconds) and the
state they act on, update that state and the namespace counters, and return a decision for
the caller (the simulator) to act on. Each rule is named after the kernel function it mirrors
and cites the kernel-model section it implements.
"""
