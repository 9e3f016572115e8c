"""Discrete-event simulation: the engine, workloads and the runner (Scenario → RunResult)."""
