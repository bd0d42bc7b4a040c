"""The comparison table ``compare`` prints and saves (``table.txt``): one row per run with its verdict,
time, iterations, work and speed-up against pure Jacobi (with the spread of repeated runs)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from poissonfp.studies.compare import Comparison

__all__ = ["format_speedup", "format_table"]


def _number(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def format_speedup(value: float | None, spread: float | None) -> str:
    """A speed-up with no more significant digits than its relative uncertainty ``spread`` supports
    (2 digits when no spread was measured, at most 3), and the uncertainty in percent.

    >>> [format_speedup(24.31, spread) for spread in (0.05, 0.004, 0.4, None)]
    ['24 ±5%', '24.3 ±0.4%', '20 ±40%', '24']
    """
    if value is None:
        return "-"
    digits = 2 if spread is None else (3 if spread <= 0 else min(3, max(1, math.floor(-math.log10(spread)) + 1)))
    rounded = round(value, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0.0
    text = f"{rounded:g}" if abs(rounded) < 1e6 else f"{rounded:.{digits}g}"
    if spread is None:
        return text
    return f"{text} ±{_percent(spread)}"


def _percent(fraction: float) -> str:
    """``0.053 -> '5.3%'``, ``4.1 -> '410%'``."""
    value = 100 * fraction
    return f"{value:.2g}%" if value < 10 else f"{value:.0f}%"


def _iterations(record: dict) -> str:
    """``"1,045 sweeps"``, ``"12 cycles"``, ``"2 V-cycles"``; ``"-"`` for a method that counts none."""
    unit, count = record.get("iteration_unit", ""), record.get("iterations", 0) or 0
    return f"{count:,} {unit[:-1] if count == 1 else unit}" if unit else "-"


def _work(record: dict) -> str:
    work = record.get("work_sweeps")
    if work is None:
        return "-"
    return ("~" if record.get("work_how") == "estimated" else "") + f"{work:,.0f}"


def format_table(comparison: Comparison) -> str:
    """The comparison as an aligned text table, one row per entry, then a line per unreached method."""
    repeated = comparison.repeat > 1
    columns = ("method", "wall [s]" + (" (median)" if repeated else ""), *(("spread",) if repeated else ()),
               "iterations", "work [sweeps]", "DNN steps", "|u-u*|_inf", "rel. residual", "reached", "speed-up")
    rows = [columns]
    for entry in comparison.entries:
        r = entry.record
        reached = "yes" if r["reached"] else ("diverged" if r["stop_reason"] == "diverged" else "NO")
        spread = r.get("wall_time_spread")
        rows.append((entry.label, _number(r["wall_time_s"], ".3g"),
                     *((("-" if spread is None else _percent(spread)),) if repeated else ()),
                     _iterations(r), _work(r), f"{r.get('dnn_steps', 0) or 0:,}",
                     _number(r.get("error_vs_exact_inf")), _number(r.get("rel_residual")), reached,
                     format_speedup(r["speedup_vs_jacobi"], r.get("speedup_spread"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("work: fine-grid Jacobi sweep-equivalents (~: estimated from V-cycles x 4 x operator "
                 "complexity; -: no such measure)")
    lines.append("speed-up: pure Jacobi's wall time over the method's; "
                 + (f"median of {comparison.repeat} runs, ± half the sum of both relative ranges"
                    if repeated else "one run each, no spread measured (use --repeat K): 2 significant digits"))
    lines += [f"{e.label}: {e.record['note']}" for e in comparison.entries if e.record["note"]]
    lines += [f"{label}: skipped, {reason}" for label, reason in comparison.skipped.items()]
    return "\n".join(lines)
