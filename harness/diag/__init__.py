"""Diagnostics: UDS (ISO 14229-1) over ISO-TP (ISO 15765-2) and OBD-II (SAE J1979).

- :mod:`.client`: the tester, a udsoncan Client on a bench channel (``open_uds``, the
  ``uds`` fixture), speaking in the DUT profile's names;
- :mod:`.obd`: the OBD-II tester (``open_obd``, the ``obd`` fixture) and responder;
- :mod:`.server`: the UDS server of simulated ECUs, configured by their ECU files;
- :mod:`.profile`: DUT profiles (DIDs, DTCs, routines) from ``fixtures/dut/*.toml``;
- :mod:`.config`, :mod:`.serverconfig`: the ``[diagnostics]`` sections of bench and ECU files;
- :mod:`.transport`: can-isotp on a harness channel; :mod:`.seedkey`: seed-key plugins;
- :mod:`.tracedecode`: the UDS conversation in a recorded trace.

Import the submodule you need; this package imports nothing (udsoncan loads only when used).
"""
