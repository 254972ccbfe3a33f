"""``with`` support for everything the harness opens and closes."""

from __future__ import annotations

from typing import Self


class Closing:
    """Makes a class with ``close()`` a context manager: ``with Bench.open(...) as bench:``."""

    def close(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
