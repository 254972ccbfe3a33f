"""Columnar decoding: traces to one Arrow table per message, numpy all the way (issue 15).

* :mod:`.signals` compiles a cantools message into numpy steps (values equal to
  cantools' ``decode_message(..., decode_choices=False)``);
* :mod:`.blf` and :mod:`.candump` read frames straight into columns, in chunks;
  any other format comes through python-can (:mod:`harness.trace.reader`);
* :mod:`.engine` puts them together: :func:`decode_columns`, :func:`iter_decoded`,
  :func:`write_parquet` (``DIR/<message>/part-0.parquet``).
"""

from harness.trace.columnar.engine import (
    FRAME_COLUMNS,
    J1939_COLUMNS,
    ColumnarDecoder,
    DecodeOptions,
    DecodeStats,
    ParquetResult,
    decode_columns,
    iter_decoded,
    read_frames,
    to_pandas,
    write_parquet,
)
from harness.trace.columnar.frames import FrameChunk
from harness.trace.columnar.signals import LABEL_SUFFIX, MessageDecoder

__all__ = [
    "FRAME_COLUMNS",
    "J1939_COLUMNS",
    "LABEL_SUFFIX",
    "ColumnarDecoder",
    "DecodeOptions",
    "DecodeStats",
    "FrameChunk",
    "MessageDecoder",
    "ParquetResult",
    "decode_columns",
    "iter_decoded",
    "read_frames",
    "to_pandas",
    "write_parquet",
]
