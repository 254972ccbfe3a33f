"""Simulated ECUs and devices for the virtual bench, built from data files in fixtures/ecus/."""
