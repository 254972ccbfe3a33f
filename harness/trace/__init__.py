"""Recorded CAN traces: reading them back (any format python-can reads) and decoding them.

:mod:`harness.trace.reader` streams a trace file as python-can messages and turns
every way a file can be bad (cut short, garbage, wrong suffix) into one
:class:`~harness.exceptions.TraceError` that names the file and the position.
"""
