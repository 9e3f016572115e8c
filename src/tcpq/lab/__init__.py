"""The real kernel: run a scenario in throwaway network namespaces and report a RunResult."""
