"""tcpq trace: static tracepoints read from a private tracefs instance, tied to listeners.

`formats` parses the kernel's own event descriptions, `events` the lines an instance prints,
`instance` owns the tracefs mount and the instance's lifecycle, `attribute` ties an event to a
namespace, a listener and the owning process, and `session` runs the loop with the counters.
The lab may use `session.TraceSession` directly (a clean reader API, no terminal involved).
"""
