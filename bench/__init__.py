"""Benchmarks of SPEC §7: every target measured beside its anchors, in one scratch database.

``python -m bench`` (``make bench``) runs them all; ``--only``, ``--quick`` and ``--keep`` are
described by ``python -m bench --help``. Results go to ``bench/results/`` (JSON and markdown).
"""
