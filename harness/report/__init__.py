"""Evidence and traceability: the DUT's identity, the results store, the HTML report.

- :mod:`.identity`: who the DUT is, read through small providers (bench file, UDS, modem).
- :mod:`.requirements`: the ``requirement`` marker (requirement IDs and clauses of tests).
- :mod:`.store`: runs, DUTs, tests, results and artifacts in SQLite or PostgreSQL.
- :mod:`.html`: the self-contained HTML report of a run (Jinja2), with :mod:`.plots`.
- :mod:`.environment`: the versions a run used.

The pytest side (per-test traces, JUnit properties, writing as tests end) is
:mod:`harness.pytest_plugin.evidence`; the command line is ``harness results`` and
``harness report``.
"""
