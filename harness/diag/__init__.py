"""Diagnostics, the tester's side: UDS (ISO 14229-1) and OBD-II (SAE J1979) over any
registered transport.

- :mod:`.client`: the UDS tester (``UdsClient`` over a transport's ``Link``), speaking in
  the DUT profile's names; :mod:`.obd`: the OBD-II tester and the PID table;
- :mod:`.transport`: the ``TRANSPORTS`` registry; :mod:`.transport.on_can`: ISO-TP
  (ISO 15765-2) on a bench channel;
- :mod:`.config`: the bench file's ``[diagnostics]``; :mod:`.profile`: DUT profiles
  (DIDs, DTCs, routines) from ``fixtures/dut/*.toml``; :mod:`.seedkey`: seed-key plugins;
- :mod:`.tracedecode`: the UDS conversation in a recorded trace; :mod:`.conformance`:
  what the diagnostic suites share.

The simulated ECUs' side (the UDS server, the OBD-II responder) is :mod:`harness.sim`.
Import the submodule you need; this package imports nothing (udsoncan loads only when used).
"""
