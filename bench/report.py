"""The one table ``make bench`` prints: a row per measurement, its targets marked ok or MISSED."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Check:
    goal: str
    met: bool

    def __str__(self) -> str:
        return f"{'ok' if self.met else 'MISSED'} {self.goal}"


# The table's order, whatever order the scenarios run in.
BURST, CALLBACK_CPU, WHOLE_FLOW, SESSION, SUSTAINED = range(5)


@dataclass
class Row:
    section: int
    scenario: str
    server: str
    lost: str = ""
    p50: str = ""
    p99: str = ""
    rate: str = ""
    compared: str = ""
    rss: str = ""
    checks: list[Check] = field(default_factory=list)
    note: str = ""

    def check(self, goal: str, met: bool) -> None:
        self.checks.append(Check(goal, met))

    @property
    def targets(self) -> str:
        return "; ".join(str(check) for check in self.checks)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    @property
    def all_met(self) -> bool:
        return all(check.met for row in self.rows for check in row.checks)


COLUMNS = (
    ("scenario", "scenario"),
    ("server", "server"),
    ("lost", "lost logins"),
    ("p50", "p50"),
    ("p99", "p99"),
    ("rate", "rate"),
    ("compared", "compared"),
    ("rss", "RSS/worker"),
    ("targets", "targets"),
)


def print_report(report: Report, elapsed: float, log_dir: str) -> None:
    header = [title for _, title in COLUMNS]
    rows = sorted(report.rows, key=lambda row: row.section)
    cells = [[getattr(row, key) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *cells, strict=False)]
    print()
    print("callback_app benchmark")
    for note in report.notes:
        print(f"  {note}")
    print()
    print("  ".join(title.ljust(width) for title, width in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * width for width in widths))
    for row, line in zip(rows, cells, strict=True):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if row.note:
            print(f"    ({row.note})")
    print()
    verdict = "every target met" if report.all_met else "some targets MISSED"
    print(f"{verdict}; finished in {elapsed:.0f} s; server logs in {log_dir}")


def seconds_text(seconds: float) -> str:
    """A duration as people read it: ms below a second; ``timeout`` for what was never answered."""
    if math.isinf(seconds):
        return "timeout"
    if math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def percentile(values: list[float], percent: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * percent / 100) - 1)]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else math.nan
