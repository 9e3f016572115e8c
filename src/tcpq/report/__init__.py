"""Renderers only: turn tcpq's data objects into terminal output; they never compute."""
