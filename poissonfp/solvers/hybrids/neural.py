"""Method ``dnn``: the boundary-exact network alone (Adam -> L-BFGS, optional Galerkin output layer).

The network is trained by gradient descent on its loss (:mod:`poissonfp.neural.losses`) from its seeded
initialisation, so its record shows the F-Principle at work (low frequencies first); every ~1.5% of the
steps its grid values are recorded and the stopping criterion checked, so training stops as soon as it
holds. With ``training.galerkin`` the output layer is solved exactly once training ends (solving it
before training is the hybrid's business: Adam steps after an exact solve undo it). The result
is the final network; ``info`` reports the best criterion value seen on the way and where, honestly
(the final value can be worse than the best one: training is not monotone in the error).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.settings import NetworkSettings, TrainingSettings
from poissonfp.solvers.base import Monitor, SolveResult

__all__ = ["solve_dnn"]


def solve_dnn(problem: Problem, monitor: Monitor, *, network: NetworkSettings | None = None,
              training: TrainingSettings | None = None, seed: int = 0, device: str | None = None,
              **_: object) -> SolveResult:
    """Train the network until the criterion holds or the steps run out (``initial_guess`` is ignored).

    Options: ``network``, ``training``, ``seed``, ``device``. ``info`` holds ``train_time_s``,
    ``galerkin_time_s``, ``galerkin_rank``, ``loss_points`` (grid or quadrature, after the guard),
    ``loss_history`` (subsampled), ``best_metric`` / ``best_step`` and ``adam_steps`` / ``lbfgs_steps``.
    """
    network = network or NetworkSettings()
    training = training or TrainingSettings()
    metric = monitor.criterion.metric
    from poissonfp.neural.galerkin import galerkin_output_layer, warm_up
    from poissonfp.neural.losses import make_loss
    from poissonfp.neural.model import build_model, single_threaded
    from poissonfp.neural.training import Trainer

    galerkin_time, rank, model, trainer, u = 0.0, None, None, None, None
    best: dict[str, Any] = {"metric": None, "step": 0}
    reason = "max_iterations"
    try:
        warm_up(problem.grid.ndim)  # compilation is not part of any solve's time
        with single_threaded():
            monitor.restart()
            model = build_model(problem, network, seed, device)
            points = model.grid_points(problem.grid)
            loss = make_loss(problem, model, training.loss, training.points, training.quadrature_order)
            trainer = Trainer(model, loss, training.learning_rate)
            total = training.adam_steps + training.lbfgs_steps
            every = max(1, total // 64)

            def record(step: int) -> bool:
                entry = monitor.record(model.grid_values(problem.grid, points), 0, dnn_steps=step, phase="dnn")
                value = entry[metric]
                if value is not None and (best["metric"] is None or value < best["metric"]):
                    best.update(metric=value, step=step)
                return monitor.satisfied(value)

            def on_step(step: int, _loss: float) -> bool:
                return step % every == 0 and record(step)

            if record(0) or trainer.adam(training.adam_steps, on_step) or trainer.lbfgs(training.lbfgs_steps, on_step):
                reason = "converged"
            if training.galerkin and reason != "converged":
                start = time.perf_counter()
                space, _grid_values = galerkin_output_layer(model, problem, training.rcond, points)
                galerkin_time, rank = time.perf_counter() - start, space.rank
            u = model.grid_values(problem.grid, points)
    except KeyboardInterrupt:
        reason = "interrupted"
    if u is None:  # interrupted: the network as it stands (zero before it exists)
        with single_threaded():
            u = model.grid_values(problem.grid) if model is not None else np.zeros(problem.grid.shape)
    steps = trainer.steps if trainer is not None else 0
    result = monitor.result("dnn", u, reason, iterations=0, dnn_steps=steps, info={
        "train_time_s": trainer.time_s if trainer else 0.0, "galerkin_time_s": galerkin_time,
        "galerkin_rank": rank, "loss": training.loss,
        "loss_points": trainer.loss.points if trainer else None,
        "quadrature_fallback_step": trainer.fallback_step if trainer else None,
        "adam_steps": min(steps, training.adam_steps), "lbfgs_steps": max(0, steps - training.adam_steps),
        "loss_history": trainer.loss_history() if trainer else {},
    })
    final = result.final.get(metric)
    if final is not None and (best["metric"] is None or final < best["metric"]):
        best.update(metric=final, step=steps)
    result.info.update(best_metric=best["metric"], best_step=best["step"], metric=metric)
    return result
