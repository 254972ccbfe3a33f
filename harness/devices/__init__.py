"""Serial devices on a bench: a DUT's console (send/expect), AT-command modems, and SCPI
power supplies (through PyVISA), with the bench-file schema and the serial traffic log.

- :mod:`.config`: ``[serial.NAME]`` and ``[power]`` of a bench file;
- :mod:`.port`: pyserial port + reader thread + event-driven receive buffer;
- :mod:`.console`, :mod:`.modem`, :mod:`.power`: the drivers;
- :mod:`.log`: the timestamped serial traffic of a bench, per test;
- :mod:`.bench`: opening them all (and their simulations, :mod:`harness.sim`) for a Bench.
"""
