"""Plots of the signals a failing test waited on, for the HTML report.

:func:`signal_series` turns a test's frames into plain data (kept in the results
store, so a report can be rebuilt later); :func:`render_png` draws it with
matplotlib (no pyplot, no display) and returns a base64 PNG for an ``<img>``.

A failed expectation's evidence names the messages it was about; the signals
named in its message text (``where DriverDoorLocked == 'UNLOCKED'``) come first.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.canbus.frame import Frame

MAX_SIGNALS = 6
"""Signals per plot; the ones the failure names first."""
MAX_POINTS = 2000
"""Points per signal; longer series keep their last points."""
MAX_PLOTS = 3
"""Plots (messages) per failed test."""


def _numeric(value: Any) -> tuple[float, str | None] | None:
    """A signal value as a number, with its value-table name if it has one."""
    raw = getattr(value, "value", value)  # cantools NamedSignalValue
    name = getattr(value, "name", None)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    number = float(raw)
    if not math.isfinite(number):
        return None
    return number, str(name) if name is not None else None


def signal_series(
    frames: Sequence[Frame],
    evidence: Iterable[Frame],
    *,
    origin: float,
    failed_at: float | None = None,
    headline: str = "",
) -> list[dict[str, Any]]:
    """Series for the messages in ``evidence``, taken from ``frames`` (the test's traffic,
    falling back to the evidence itself). Times are seconds since ``origin``.

    Each plot is ``{"channel", "message", "failed_at", "headline", "signals": {name:
    {"t": [...], "v": [...], "names": {value: name}}}}``.
    """
    evidence = list(evidence)
    wanted: list[tuple[str, str]] = []
    for frame in evidence:
        key = (frame.channel, frame.name or frame.id_text())
        if frame.name and key not in wanted:
            wanted.append(key)
    mentioned = set(re.findall(r"[A-Za-z_]\w*", headline))
    plots = []
    for channel, message in wanted[:MAX_PLOTS]:
        source = [f for f in frames if f.channel == channel and f.name == message] or [
            f for f in evidence if f.channel == channel and f.name == message
        ]
        signals: dict[str, dict[str, Any]] = {}
        for frame in source[-MAX_POINTS:]:
            for name, value in frame.signals.items():
                point = _numeric(value)
                if point is None:
                    continue
                series = signals.setdefault(name, {"t": [], "v": [], "names": {}})
                series["t"].append(round(frame.timestamp - origin, 6))
                series["v"].append(point[0])
                if point[1] is not None:
                    series["names"][f"{point[0]:g}"] = point[1]
        if not signals:
            continue
        ordered = sorted(signals, key=lambda s: (s not in mentioned, list(signals).index(s)))
        plots.append(
            {
                "channel": channel,
                "message": message,
                "failed_at": None if failed_at is None else round(failed_at - origin, 6),
                "headline": headline,
                "signals": {name: signals[name] for name in ordered[:MAX_SIGNALS]},
            }
        )
    return plots


def render_png(plot: dict[str, Any], *, dpi: int = 80) -> str:
    """The plot as a base64-encoded PNG: one step trace per signal, a shared time axis,
    value-table names on the y axis, the moment of failure as a red line."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib loads only to draw

    signals: dict[str, dict[str, Any]] = plot["signals"]
    count = max(len(signals), 1)
    height = 0.6 + 1.1 * count
    figure = Figure(figsize=(8, height), dpi=dpi)
    figure.subplots_adjust(
        left=0.25, right=0.98, top=1 - 0.35 / height, bottom=0.45 / height, hspace=0.25
    )
    axes = figure.subplots(count, 1, sharex=True, squeeze=False)[:, 0]
    failed_at = plot.get("failed_at")
    for ax, (name, series) in zip(axes, signals.items(), strict=False):
        ax.step(series["t"], series["v"], where="post", marker=".", markersize=3, linewidth=1.2)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        names = series.get("names") or {}
        if names and len(names) <= 8:
            ticks = sorted({float(k) for k in names})
            ax.set_yticks(ticks, [names[f"{t:g}"] for t in ticks])
        if failed_at is not None:
            ax.axvline(failed_at, color="#c62828", linestyle="--", linewidth=1)
    axes[-1].set_xlabel("seconds since the test started", fontsize=8)
    figure.suptitle(f"{plot['message']} on {plot['channel']}", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
