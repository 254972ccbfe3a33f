"""The versions a run used: the harness, Python, the platform and the libraries."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = (
    "python-can",
    "cantools",
    "can-isotp",
    "udsoncan",
    "pyserial",
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "jinja2",
    "matplotlib",
    "psycopg",
)
"""Libraries whose versions a report lists (those installed)."""


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, object]:
    """``{"harness": "0.1.0", "python": "3.11.7", "platform": ..., "packages": {...}}``."""
    packages = {name: v for name in PACKAGES if (v := version(name)) is not None}
    return {
        "harness": version("ecu-harness") or "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }
