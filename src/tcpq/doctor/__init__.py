"""Diagnosis: rules over two snapshots of a namespace, each returning Findings; they never print."""

from tcpq.doctor.rules import RULES, diagnose

__all__ = ["RULES", "diagnose"]
