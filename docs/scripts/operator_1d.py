"""1D operator networks (deeponet / fno / unet): held-out band errors and operator-solve work to relative
residual 1e-10, trained vs untrained, against pure Jacobi. One thread; counts are load-free.

usage: [ARCHS=deeponet,fno,unet] python docs/scripts/operator_1d.py STEPS OUT.json [n ...]
(README, "Operator network", "Architectures in 1D"; about 25 min on one thread)
"""
import json, os, sys, time
import numpy as np, torch
from threadpoolctl import threadpool_limits
torch.set_num_threads(1)
from poissonfp.case import load_case
from poissonfp.discrete_operator import box_operator
from poissonfp.grid import Grid
from poissonfp.jacobi_theory import predicted_sweeps
from poissonfp.learned.training import band_errors, family_record, family_sources, train_operator
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import StoppingCriterion, solve

steps, out = int(sys.argv[1]), sys.argv[2]
sizes = [int(a) for a in sys.argv[3:]] or [127, 255, 511]
criterion = StoppingCriterion("residual", 1e-10, max_iterations=300_000)
rows = []


def problems(n):
    grid = Grid((-1.0,), (1.0,), (n,))
    op = box_operator(grid)
    grf = family_sources(op, 1, 99, family_record("grf", None, 1))[0]
    article = build_problem(load_case("1d_article"), size=n + 1)
    return {"grf": Problem.from_functions(grid, lambda x: np.interp(x, grid.axes[0], grf), name="1d_article"),
            "article": article}


def measure(model, n, probs, label, extra):
    grid_op = box_operator(Grid((-1.0,), (1.0,), (n,)))
    src = family_sources(grid_op, 64, 1, family_record("grf", None, 1))
    row = {"n": n, **extra}
    if model.grid.shape == (n,):
        tgt = np.stack([grid_op.solve(s) for s in src])
        pred = model.apply(src)
        row["bands"] = [round(b["error"], 4) for b in band_errors(pred, tgt)]
        row["bands_1-2,3-8,9+"] = [round(b["error"], 4) for b in band_errors(pred, tgt, (0, 2.5 / n, 8.5 / n, 1.0))]
    for name, problem in probs.items():
        result = solve(problem, "operator", criterion, model=model, sweeps=10, fallback=False)
        row[name] = {"sweeps": result.info["sweeps"], "calls": result.info["network_calls"],
                     "work": round(result.info["work_sweep_equivalents"]),
                     "call_sweeps": round(result.info["call_sweep_equivalents"]), "converged": result.converged,
                     "wall_s": round(result.wall_time_s, 3), "use": result.info["model_use"]}
        row[name]["jacobi_w1"] = predicted_sweeps(problem, criterion, 1.0)
        row[name]["jacobi_w2/3"] = predicted_sweeps(problem, criterion, 2 / 3)
    print(json.dumps(row), flush=True)
    rows.append(row)


with threadpool_limits(1):
    coarse = {}
    for arch in os.environ.get("ARCHS", "deeponet,fno,unet").split(","):
        for s in (steps, 0):
            start = time.perf_counter()
            coarse[arch, s] = train_operator(box_operator(Grid((-1.0,), (1.0,), (63,))), case="1d_article", arch=arch,
                                             samples=2048, steps=s, seed=0)[0]
            coarse[arch, s].meta["train_wall_s"] = time.perf_counter() - start
    for n in sizes:
        probs = problems(n)
        for arch in os.environ.get("ARCHS", "deeponet,fno,unet").split(","):
            for s in (steps, 0):
                start = time.perf_counter()
                model, report = train_operator(box_operator(Grid((-1.0,), (1.0,), (n,))), case="1d_article",
                                               arch=arch, samples=2048, steps=s, seed=0)
                measure(model, n, probs, "same", {"arch": arch, "steps": s, "trained_at": n,
                                                  "train_s": round(time.perf_counter() - start, 1),
                                                  "params": model.meta["parameters"]})
                measure(coarse[arch, s], n, probs, "coarse", {"arch": arch, "steps": s, "trained_at": 63,
                                                              "train_s": round(coarse[arch, s].meta["train_wall_s"], 1)})
        json.dump(rows, open(out, "w"), indent=1)
