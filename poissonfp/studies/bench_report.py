"""What ``poissonfp bench`` leaves on disk: ``bench.json``, ``bench.csv``, ``bench.md`` and the figures."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from poissonfp.results import save_figure, write_json, write_text

__all__ = ["format_csv", "format_header", "format_markdown", "save_bench", "time_series"]

CSV_COLUMNS = ("problem", "size", "shape", "unknowns", "criterion", "threshold", "method", "status", "computed",
               "time_s", "wall_time_s", "iterations", "dnn_steps", "work_sweeps", "work_how",
               "factor_per_iteration", "error_vs_exact_inf", "error_vs_discrete_rel_l2",
               "hybrid_over_jacobi", "hybrid_over_dnn", "multigrid_over_hybrid", "network_share", "note")


def _num(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _time_cell(record: dict | None) -> str:
    if record is None:
        return "n/a"
    status = record["status"]
    if status == "computed":
        return f"{record['time_s']:.3g} s *"
    if status == "measured":
        return f"{record['time_s']:.3g} s"
    if status == "not_reached":
        return f"not reached ({_num(record.get('wall_time_s'))} s)"
    if status == "skipped":
        return f"skipped (est. {record['estimated_time_s']:.0f} s)"
    if status == "not_run":
        return f"not run (est. {record['estimated_time_s']:.3g} s)"
    if status == "not_applicable":
        return "not applicable"
    return status


def _ratio(value: float | None, computed: bool = False) -> str:
    return "-" if value is None else f"{value:.3g}x" + (" *" if computed else "")


def _grid(row: dict) -> str:
    shape = row["shape"]
    return f"n={shape[0] + 1}" if row["problem"] == "1d_article" else "x".join(map(str, shape))


def format_header(data: dict[str, Any]) -> str:
    """Markdown lines saying how, when and on what machine the benchmark ran."""
    m = data["machine"]
    load = ", ".join(f"{v:.2f}" for v in m["load_average"])
    after = ", ".join(f"{v:.2f}" for v in m.get("load_average_after", []))
    return "\n".join([
        f"- command: `{data.get('command', 'poissonfp bench')}`",
        f"- started {data['started']}, total {data['elapsed_s']:.0f} s",
        f"- machine: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), {m['memory_gib']} GiB memory",
        f"- load average (1, 5, 15 min) before: {load}; after: {after}",
        f"- {m['platform']}, Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, numba {m['numba']}",
        f"- methods skipped as not registered: {', '.join(data['skipped_methods']) or 'none'}",
        f"- predictor checks passed: {data['checks_passed']}",
        *(["- **interrupted** (Ctrl-C): the rows below are what was measured before the stop"]
          if data.get("interrupted") else []), "", ""])


def format_markdown(data: dict[str, Any]) -> str:
    """The benchmark as markdown: times per method, ratios, predictor checks, kernel bandwidth."""
    methods = data["methods"]
    lines = ["| problem | grid | unknowns | " + " | ".join(methods)
             + " | hybrid over Jacobi | hybrid over DNN | multigrid over hybrid | network share |",
             "|" + "---|" * (len(methods) + 7)]
    for row in data["rows"]:
        ratios = row["ratios"]
        cells = [row["problem"], _grid(row), f"{row['unknowns']:,}"]
        cells += [_time_cell(row["results"].get(m)) for m in methods]
        cells += [_ratio(ratios["hybrid_over_jacobi"], ratios["jacobi_computed"]), _ratio(ratios["hybrid_over_dnn"]),
                  _ratio(ratios["multigrid_over_hybrid"]), _ratio(ratios.get("network_share"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "`*` pure Jacobi's time computed: exact sweep count (DST-I, mode by mode) x per-sweep time "
              "measured in this run. Network share: time of the hybrid with an exact coarsest solve in place "
              "of the network over the hybrid's (above 1: the network helps).", ""]
    lines += _work_table(data) + _scaling_table(data) + _sweep_cost_table(data)
    lines += _check_table(data) + _bandwidth_table(data)
    notes = [f"- {row['problem']} {_grid(row)} {m}: {r['note']}" for row in data["rows"]
             for m, r in row["results"].items() if r.get("note") and r["status"] not in ("computed", "measured")]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


def _check_table(data: dict[str, Any]) -> list[str]:
    """Predicted against real sweep counts, one line per real Jacobi run on the box (none off the box)."""
    if not data["checks"]:
        return []
    lines = ["Predicted against real sweep counts (real runs check their "
             "criterion in batches, so the prediction must lie inside the last batch; it passes within "
             f"{data['config']['check_tolerance']:.0%}, or, where a batch exceeds that, when a sweep-by-sweep "
             "run confirms the exact count):", "",
             "| problem | grid | predicted | real | real - predicted | last batch <= | relative | "
             "sweep-exact check | model s/sweep | real s/sweep | passed |", "|" + "---|" * 11]
    for c in data["checks"]:
        lines.append(f"| {c['problem']} | {_grid(c)} | {c['predicted']:,} | {c['real']:,} | "
                     f"{c['real'] - c['predicted']:,} | {c['batch_tolerance']:,} | {c['relative_difference']:.2%} | "
                     f"{ {None: '-', True: 'yes', False: 'NO'}[c.get('exact_check')]} | "
                     f"{_num(c['model_sweep_time_s'])} | {_num(c['real_sweep_time_s'])} | "
                     f"{'yes' if c['passed'] else 'NO'} |")
    return [*lines, ""]


def _bandwidth_table(data: dict[str, Any]) -> list[str]:
    """Bandwidth of the box's stencil kernel against a copy (no row off the box, where the CSR kernel runs)."""
    if not any(row["kernel"] for row in data["rows"]):
        return []
    lines = ["Jacobi kernel bandwidth (24 bytes per unknown and sweep) against a single-thread copy "
             "(16 bytes per element):", "", "| problem | grid | ns/unknown | kernel GB/s | copy GB/s (numba) | "
             "copy GB/s (np.copyto) | fraction | fraction vs same working set |", "|---|---|---|---|---|---|---|---|"]
    for row in data["rows"]:
        k = row["kernel"]
        if k:
            lines.append(f"| {row['problem']} | {_grid(row)} | {k['ns_per_unknown']:.3g} | "
                         f"{k['kernel_bytes_per_s'] / 1e9:.1f} | {k['copy_numba_bytes_per_s'] / 1e9:.1f} | "
                         f"{k['copy_numpy_bytes_per_s'] / 1e9:.1f} | {k['fraction_of_copy']:.0%} | "
                         f"{k['fraction_of_copy_same_working_set']:.0%} |")
    return lines


def _factor(value: float | None) -> str:
    """A reduction factor; near 1 as ``1 - x`` so that Jacobi's 0.99998 does not print as 1."""
    if value is None:
        return "-"
    return f"1-{1 - value:.2g}" if value > 0.99 else f"{value:.3g}"


def _work_table(data: dict[str, Any]) -> list[str]:
    """Work in sweep-equivalents and mean reduction factor per iteration (noise-free beside the times)."""
    methods = [m for m in data["methods"] if any(r["results"].get(m, {}).get("work_sweeps") for r in data["rows"])]
    if not methods:
        return []
    lines = ["Work to accuracy in sweep-equivalents (one = a Jacobi sweep over the fine grid; `~` estimated) / "
             "mean residual reduction per iteration (a sweep for Jacobi, a cycle otherwise):", "",
             "| problem | grid | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 2)]
    for row in data["rows"]:
        cells = []
        for method in methods:
            r = row["results"].get(method) or {}
            work = r.get("work_sweeps")
            mark = "~" if r.get("work_how") == "estimated" else ""
            cells.append("-" if work is None else f"{mark}{work:,.0f} / {_factor(r.get('factor_per_iteration'))}")
        lines.append(f"| {row['problem']} | {_grid(row)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _sweep_cost_table(data: dict[str, Any]) -> list[str]:
    """Off the box: seconds per sweep of the CSR Jacobi kernel beside the box stencil's on the same grid."""
    timed = [(row, row["results"]["jacobi"]) for row in data["rows"]
             if row["results"].get("jacobi", {}).get("box_sweep_time_s")]
    if not timed:
        return []
    lines = ["Off the box pure Jacobi sweeps with the CSR kernel (no exact sweep count exists there, so it is "
             "run for real or not at all); its time per sweep beside the box stencil's on the same grid:", "",
             "| problem | grid | unknowns | CSR s/sweep | box stencil s/sweep | ratio |", "|---|---|---|---|---|---|"]
    for row, r in timed:
        lines.append(f"| {row['problem']} | {_grid(row)} | {row['unknowns']:,} | {r['sweep_time_s']:.3g} | "
                     f"{r['box_sweep_time_s']:.3g} | {r['sweep_time_s'] / r['box_sweep_time_s']:.1f}x |")
    return [*lines, ""]


def _scaling_table(data: dict[str, Any]) -> list[str]:
    """Fitted exponents p of time ~ N^p and work ~ N^p (N unknowns), from this run's sizes."""
    scaling = data.get("scaling") or {}
    if not scaling:
        return []
    lines = ["Scaling with the number of unknowns N, least-squares exponents over each problem's sizes "
             "(time ~ N^p / work ~ N^p; 1 is linear):", "", "| problem | method | time exponent | work exponent |",
             "|---|---|---|---|"]
    for problem, methods in scaling.items():
        for method, fit in methods.items():
            lines.append(f"| {problem} | {method} | {_num(fit['time_exponent'], '.2f')} | "
                         f"{_num(fit['work_exponent'], '.2f')} |")
    return [*lines, ""]


def format_csv(data: dict[str, Any]) -> str:
    """One CSV line per (problem, size, method), with the row's ratios repeated on each line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in data["rows"]:
        for record in row["results"].values():
            writer.writerow({**row, **row["ratios"], **record, "shape": "x".join(map(str, row["shape"])),
                             "computed": bool(record.get("computed"))})
    return buffer.getvalue()


def time_series(data: dict[str, Any], problem: str, key: str = "time_s") -> dict[str, dict[str, list]]:
    """Per method, the (unknowns, ``key`` value, computed) points of one problem that have a value
    (``key``: ``"time_s"`` or ``"work_sweeps"``); the values sit under ``"time_s"`` for the plots."""
    series: dict[str, dict[str, list]] = {}
    for row in data["rows"]:
        if row["problem"] != problem:
            continue
        for method, record in row["results"].items():
            if record.get(key):
                entry = series.setdefault(method, {"unknowns": [], "time_s": [], "computed": []})
                entry["unknowns"].append(row["unknowns"])
                entry["time_s"].append(record[key])
                entry["computed"].append(bool(record.get("computed")))
    return series


def save_bench(data: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``bench.json``, ``bench.csv``, ``bench.md`` and the figures; return the paths."""
    from poissonfp.plotting import bench as bench_plots

    out = Path(out_dir)
    paths = [write_json(out / "bench.json", data), write_text(out / "bench.csv", format_csv(data)),
             write_text(out / "bench.md", format_header(data) + format_markdown(data))]
    for problem in dict.fromkeys(row["problem"] for row in data["rows"]):
        fig = bench_plots.plot_time_vs_unknowns(time_series(data, problem), f"{problem}: time to accuracy")
        paths.append(save_figure(fig, out / f"time_{problem}.png"))
        if problem in (data.get("scaling") or {}):
            fig = bench_plots.plot_scaling(time_series(data, problem), time_series(data, problem, "work_sweeps"),
                                           data["scaling"][problem], problem)
            paths.append(save_figure(fig, out / f"scaling_{problem}.png"))
    kernels = [row for row in data["rows"] if row["kernel"]]
    if kernels:
        fig = bench_plots.plot_bandwidth([f"{r['problem']} {_grid(r)}" for r in kernels],
                                         [r["kernel"]["fraction_of_copy"] for r in kernels],
                                         [r["kernel"]["fraction_of_copy_same_working_set"] for r in kernels])
        paths.append(save_figure(fig, out / "bandwidth.png"))
    return paths
