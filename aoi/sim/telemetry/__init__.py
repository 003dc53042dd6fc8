"""Telemetry rendered from the simulator's health history: metrics, logs and traces.

Everything here is a pure function of (health epochs, seed, clock): deterministic per seed, and
derived from state — never from which fault was applied.
"""
