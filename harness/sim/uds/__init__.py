"""The UDS server of simulated ECUs (ISO 14229-1 over ISO-TP): its configuration from the
ECU file, its ISO-TP stack with seeded faults, and the services it answers."""
