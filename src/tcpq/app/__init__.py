"""Use-cases that combine faces (model + lab, host session, sweeps)."""
