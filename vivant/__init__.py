"""Vivant: presence-aware community engine for coworking spaces.

The `vivant` package holds what the edge agent and the hub share (the wire contract in
:mod:`vivant.wire`, YAML configuration loading) and the command-line entry point. It never
imports :mod:`edge` or :mod:`hub` at module level: ``vivant.cli`` loads them lazily, so a
Raspberry Pi with only the ``edge`` extra never needs the hub's dependencies.
"""

__version__ = "0.1.0"
