"""The benchmark's table: a row's ratios (speed-ups from times of the same run), the scaling exponents of
time and work over a problem's sizes, and the labels and config record that bench.json carries."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from poissonfp.problem import Problem
from poissonfp.studies.bench_plan import BenchConfig

__all__ = ["config_record", "ratios", "scaling_exponents", "size_label", "unknowns"]


def size_label(size: int | tuple[int, ...]) -> int | list[int]:
    """A plan's size as JSON keeps it (a list for one count per axis)."""
    return list(size) if isinstance(size, tuple) else size


def unknowns(problem: Problem) -> int:
    """The unknowns of ``problem``: the grid points inside the domain (all of them on the box)."""
    return problem.grid.size if problem.general is None else int(problem.general.inside.sum())


def ratios(results: dict[str, dict]) -> dict[str, Any]:
    """Speed-ups from times of this run: hybrid over Jacobi (t_jacobi / t_hybrid), hybrid over the DNN
    alone (t_dnn / t_hybrid), multigrid over hybrid (t_hybrid / t_multigrid) and the network's share
    (t_hybrid-exact / t_hybrid: above 1 when the network beats an exact coarsest solve)."""
    times: dict[str, Any] = {m: r.get("time_s") for m, r in results.items()}

    def ratio(slow: str, fast: str) -> float | None:
        return times[slow] / times[fast] if times.get(slow) and times.get(fast) else None

    return {"hybrid_over_jacobi": ratio("jacobi", "hybrid"), "hybrid_over_dnn": ratio("dnn", "hybrid"),
            "multigrid_over_hybrid": ratio("hybrid", "multigrid"),
            "network_share": ratio("hybrid-exact", "hybrid"),
            "jacobi_computed": bool(results.get("jacobi", {}).get("computed"))}


def scaling_exponents(rows: list[dict]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per problem with three or more sizes and per method, the least-squares exponents ``p`` of
    ``time ~ N^p`` and ``work ~ N^p`` (N unknowns) over the sizes where the method has a value."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for problem in dict.fromkeys(r["problem"] for r in rows):
        mine = [r for r in rows if r["problem"] == problem]
        if len(mine) < 3:
            continue
        for method in dict.fromkeys(m for r in mine for m in r["results"]):
            fits = {}
            for key in ("time_s", "work_sweeps"):
                points = [(r["unknowns"], r["results"][method].get(key)) for r in mine if method in r["results"]]
                points = [(n, v) for n, v in points if v]
                fits[key] = _slope(points) if len(points) >= 2 else None
            out.setdefault(problem, {})[method] = {"time_exponent": fits["time_s"],
                                                   "work_exponent": fits["work_sweeps"]}
    return out


def _slope(points: list[tuple[int, float]]) -> float:
    x = [math.log(n) for n, _ in points]
    y = [math.log(v) for _, v in points]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sum((a - mx) ** 2 for a in x) or 1.0)


def config_record(config: BenchConfig) -> dict[str, Any]:
    """The run's settings as bench.json records them."""
    record = dataclasses.asdict(config)
    record["plan"] = [{"case": p.case, "sizes": [size_label(z) for z in p.sizes], "overrides": dict(p.overrides),
                       "methods": list(p.methods)} for p in config.plan]
    record["case_overrides"] = dict(config.case_overrides)
    return record
