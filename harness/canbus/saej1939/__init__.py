"""SAE J1939 on a channel: 29-bit identifiers read as priority, PGN and addresses
(:mod:`.addressing`), and transport-protocol reassembly (:mod:`.transport`).

A layer beside the channel, not inside it: the channel and the database only ask
:func:`~.addressing.parse_id` what a 29-bit identifier means.
"""
