"""``harness analyze``'s findings as JUnit XML and a self-contained HTML report.

JUnit has one test case per check and message, named like the live suite's
(``test_cycle_time[BCM_DoorStatus]`` in class ``analyze``), with the live
requirement ID as a property, so CI dashboards show an offline analysis the
way they show a live run. "not tested" and "not verified" are skips, never passes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import numpy as np

from harness.report.html import _environment
from harness.report.plots import render_png
from harness.trace.analysis import FAILED, PASSED

if TYPE_CHECKING:
    from pathlib import Path

    from harness.trace.analysis import Analysis

PLOTTED = 12
"""Cyclic messages plotted in the HTML report at most (the failed ones first)."""
POINTS = 4000
"""Intervals drawn per plot at most (evenly thinned beyond that, the longest kept)."""


def junit_xml(analysis: Analysis) -> str:
    """The findings as a JUnit XML document (one ``testsuite``)."""
    counts = analysis.counts()
    skipped = len(analysis.findings) - counts[PASSED] - counts[FAILED]
    suite = ET.Element(
        "testsuite",
        name="harness analyze",
        tests=str(len(analysis.findings)),
        failures=str(counts[FAILED]),
        errors="0",
        skipped=str(skipped),
    )
    properties = ET.SubElement(suite, "properties")
    for trace in analysis.traces:
        ET.SubElement(properties, "property", name="trace", value=trace)
    for finding in analysis.findings:
        case = ET.SubElement(
            suite, "testcase", classname="analyze", name=f"{finding.check}[{finding.subject}]"
        )
        if finding.requirement:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="requirement", value=finding.requirement)
        text = "\n".join([finding.figure, *finding.examples])
        if finding.verdict == FAILED:
            ET.SubElement(case, "failure", message=finding.figure).text = text
        elif finding.verdict != PASSED:
            ET.SubElement(case, "skipped", message=f"{finding.verdict}: {finding.figure}")
        else:
            ET.SubElement(case, "system-out").text = text
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode")


def write_junit(analysis: Analysis, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(analysis), encoding="utf-8")
    return path


def render_analysis(analysis: Analysis, *, plots: bool = True) -> str:
    """The HTML report: verdict, counts, every finding, interval plots of cyclic messages."""
    failed_subjects = {f.subject for f in analysis.findings if f.verdict == FAILED}
    drawn: list[tuple[str, str]] = []
    if plots:
        order = sorted(analysis.intervals, key=lambda s: (s not in failed_subjects, s))
        for subject in order[:PLOTTED]:
            drawn.append((subject, _interval_png(subject, *analysis.intervals[subject])))
    counts = analysis.counts()
    template = _environment().get_template("analysis.html.j2")
    return template.render(
        analysis=analysis,
        verdict=FAILED if analysis.failed else PASSED,
        counts=sorted(counts.items()),
        plots=drawn,
    )


def write_html(analysis: Analysis, path: Path, *, plots: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_analysis(analysis, plots=plots), encoding="utf-8")
    return path


def _interval_png(subject: str, stamps: np.ndarray, gaps: np.ndarray, expected: float) -> str:
    if len(gaps) > POINTS:  # thin evenly, but keep the longest interval visible
        keep = np.unique(
            np.append(np.linspace(0, len(gaps) - 1, POINTS).astype(int), gaps.argmax())
        )
        stamps, gaps = stamps[keep], gaps[keep]
    start = float(stamps[0]) if len(stamps) else 0.0
    plot = {
        "message": subject,
        "channel": f"expected {expected * 1000:g} ms",
        "signals": {"interval ms": {"t": (stamps - start).tolist(), "v": (gaps * 1000).tolist()}},
        "failed_at": None,
    }
    return render_png(plot)
