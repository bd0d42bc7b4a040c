"""Method ``article``: the article's DNN -> Jacobi scheme, literally (SCIENCE.md §1.4).

1. **Train** a plain fully connected tanh network for exactly ``M`` Adam steps (``--switch M``) on the
   case's loss (grid Ritz energy by default, or PINN). Nothing is solved: no Galerkin output layer, no
   L-BFGS, no automatic switch. The network is :data:`ARTICLE_NETWORK`, the one ``poissonfp diagnose
   poisson-1d`` trains (tanh 64-64, first layer unscaled): the article's Poisson experiment does not state
   its width. Like every network of poissonfp it is boundary-exact, ``u = G + B N`` with the bubble ``B``
   (the article adds a boundary penalty to the loss instead); the case's ``[network]`` table configures
   the hybrid's feature network and lends only its ``dtype`` and ``device`` here.
2. **Hand over** the network's grid values as the initial iterate of plain Jacobi (the case's ω, 1 by
   default as in the article) and sweep until the stopping criterion holds.

There are no corrections: after the hand-over the network plays no part. Its share is the error it leaves
in the low modes, which Jacobi removes at its slow rate (the log ceiling of SCIENCE.md §2). The history
holds training records (``phase`` "dnn", ``iteration`` 0), the hand-over record (``dnn_steps`` = M,
``iteration`` 0) and Jacobi's records, so figures show both phases; ``info["switch_time_s"]`` is the
monitor clock at the hand-over.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.settings import HybridSettings, NetworkSettings, TrainingSettings, check_switch
from poissonfp.solvers.base import Monitor, SolveResult
from poissonfp.solvers.classical.jacobi import jacobi_iteration, run_jacobi

__all__ = ["ARTICLE_NETWORK", "article_network", "lowest_mode_at_switch", "plain_network", "solve_article"]

#: The article's network as ``diagnose poisson-1d`` trains it: tanh, two hidden layers of 64, no scaling.
ARTICLE_NETWORK = NetworkSettings(widths=(64, 64), activation="tanh", scale=1.0)


def article_network(network: NetworkSettings | None, base: NetworkSettings = ARTICLE_NETWORK) -> NetworkSettings:
    """``base`` with the floating-point type and device of the case's ``network`` settings."""
    if network is None:
        return base
    return dataclasses.replace(base, dtype=network.dtype, device=network.device)


def solve_article(problem: Problem, monitor: Monitor, *, network: NetworkSettings | None = None,
                  training: TrainingSettings | None = None, hybrid: HybridSettings | None = None,
                  seed: int = 0, device: str | None = None, omega: float = 1.0, check_every: int = 0,
                  switch: int | str | None = None, architecture: NetworkSettings | None = None,
                  **_: object) -> SolveResult:
    """Train the plain network ``M`` Adam steps, then plain Jacobi from its grid values.

    Options: ``switch`` (M; default ``hybrid.switch``; ``"auto"`` means ``training.adam_steps``: the
    article has no automatic rule), ``training`` (loss, points, learning rate), ``network`` (dtype and
    device only), ``architecture`` (the network, default :data:`ARTICLE_NETWORK`), ``seed``, ``device``,
    ``omega`` (Jacobi's weight), ``check_every`` (Jacobi batch). ``initial_guess`` is ignored.

    ``info`` keys: ``switch_setting``, ``switch_step`` (= ``dnn_steps`` = M), ``network`` (widths,
    activation, scale), ``loss``, ``learning_rate``, ``output_layer`` ("trained by Adam"), ``jacobi_sweeps``,
    ``omega``, ``times_s`` (``network_s``, ``train_s``, ``jacobi_s``), ``training_time_s``,
    ``jacobi_time_s``, ``time_per_step_s``, ``time_per_sweep_s``, ``switch_time_s``, ``loss_history``,
    ``phase_reached``, and from :func:`lowest_mode_at_switch` the hand-over's error in the slowest mode.
    """
    training = training or TrainingSettings()
    hybrid = hybrid or HybridSettings()
    setting = check_switch(hybrid.switch if switch is None else switch)
    steps = training.adam_steps if setting == "auto" else int(setting)
    shape = article_network(network, architecture or ARTICLE_NETWORK)
    from poissonfp.neural.galerkin import warm_up
    from poissonfp.neural.model import single_threaded

    warm_up(problem.grid.ndim)  # compilation is not part of any solve's time
    times = {"network_s": 0.0, "train_s": 0.0, "jacobi_s": 0.0}
    state: dict[str, Any] = {"u": None, "model": None, "steps": 0, "sweeps": 0, "phase": "dnn", "trainer": None}
    reason = "max_iterations"
    with single_threaded():
        monitor.restart()
        try:
            _train(problem, monitor, shape, training, seed, device, steps, times, state)
            state["phase"] = "jacobi"
            reason = _jacobi(problem, monitor, omega, check_every, times, state)
        except KeyboardInterrupt:
            reason = "interrupted"
            if state["u"] is None:
                model = state["model"]
                state["u"] = model.grid_values(problem.grid) if model is not None else np.zeros(problem.grid.shape)
    trainer = state["trainer"]
    info = {
        "switch_setting": setting, "switch_step": state["steps"], "dnn_steps": state["steps"],
        "network": {"widths": list(shape.widths), "activation": shape.activation, "scale": shape.scale},
        "loss": training.loss, "loss_points": trainer.loss.points if trainer else training.points,
        "learning_rate": training.learning_rate, "output_layer": "trained by Adam (no Galerkin solve)",
        "jacobi_sweeps": state["sweeps"], "omega": omega, "phase_reached": state["phase"], "times_s": times,
        "training_time_s": times["train_s"], "jacobi_time_s": times["jacobi_s"],
        "time_per_step_s": times["train_s"] / state["steps"] if state["steps"] else None,
        "time_per_sweep_s": times["jacobi_s"] / state["sweeps"] if state["sweeps"] else None,
        "switch_time_s": state.get("switch_time_s"),
        "loss_history": trainer.loss_history() if trainer else {"step": [], "loss": []},
    }
    result = monitor.result("article", state["u"], reason, iterations=state["sweeps"], dnn_steps=state["steps"],
                            info=info)
    if state.get("u_switch") is not None and problem.on_box:  # sine modes are A's eigenvectors only there
        result.info.update(lowest_mode_at_switch(problem, state["u_switch"], omega, monitor))
    return result


def lowest_mode_at_switch(problem: Problem, u: np.ndarray, omega: float, monitor: Monitor) -> dict:
    """The error of the hand-over in the slowest sine mode ``(1, .., 1)``, computed after the clock stopped.

    Returns ``lowest_mode_amplitude_at_switch`` (the amplitude ``a`` of ``sin(π(x-a)/L)`` in ``u - u_h``),
    ``lowest_mode_factor`` (Jacobi's per-sweep factor for it) and, for the discretization criterion,
    ``lowest_mode_sweeps_bound``: the sweeps Jacobi needs to bring that amplitude below the threshold,
    ``ln(|a| / threshold) / -ln(factor)``: a lower bound on the Jacobi phase. Jacobi from zero never has
    this mode to remove when the discrete solution has none (e.g. an odd solution on a symmetric interval).
    """
    from poissonfp.solvers.classical.jacobi import jacobi_factor

    grid = problem.grid
    mode = np.ones(grid.shape)
    for d, (axis, a, b) in enumerate(zip(grid.axes, grid.lower, grid.upper)):
        shape = [1] * grid.ndim
        shape[d] = -1
        mode = mode * np.sin(np.pi * (axis - a) / (b - a)).reshape(shape)
    amplitude = float(np.sum((u - problem.discrete_solution) * mode) / np.sum(mode * mode))
    factor = jacobi_factor(problem, omega)
    out = {"lowest_mode_amplitude_at_switch": abs(amplitude), "lowest_mode_factor": factor}
    if monitor.criterion.kind == "discretization" and factor is not None and 0 < factor < 1:
        ratio = abs(amplitude) / monitor.threshold
        out["lowest_mode_sweeps_bound"] = math.log(ratio) / -math.log(factor) if ratio > 1 else 0.0
    return out


def plain_network(problem: Problem, shape: NetworkSettings, training: TrainingSettings, seed: int,
                  device: str | None):
    """The article's seeded network and its Adam trainer on the case's loss: ``(model, trainer)``.

    Shared by :func:`solve_article` and the seeded switch study (:mod:`poissonfp.studies.switch_seeds`), so
    the network after ``M`` steps is the same whether trained to ``M`` or recorded at ``M`` along a longer
    trajectory (Adam's state after step ``M`` depends only on the first ``M`` steps; a test checks it).
    """
    from poissonfp.neural.losses import make_loss
    from poissonfp.neural.model import build_model
    from poissonfp.neural.training import Trainer

    model = build_model(problem, shape, seed, device)
    return model, Trainer(model, make_loss(problem, model, training.loss, training.points,
                                           training.quadrature_order), training.learning_rate)


def _train(problem, monitor, shape, training, seed, device, steps, times, state) -> None:
    """Build the network and run ``steps`` Adam steps, recording ~64 times; leaves its grid values in state."""
    grid = problem.grid
    clock = monitor.elapsed()
    model, trainer = plain_network(problem, shape, training, seed, device)
    state["model"] = model
    points = model.grid_points(grid)
    times["network_s"] = monitor.elapsed() - clock
    monitor.record(model.grid_values(grid, points), 0, dnn_steps=0, phase="dnn")
    clock = monitor.elapsed()
    if steps > 0:
        state["trainer"] = trainer
        every = max(1, steps // 64)

        def on_step(step: int, _loss: float) -> bool:
            state["steps"] = step
            if step % every == 0 and step < steps:
                monitor.record(model.grid_values(grid, points), 0, dnn_steps=step, phase="dnn")
            return False

        trainer.adam(steps, on_step)
        state["steps"] = trainer.steps
        times["train_s"] = monitor.elapsed() - clock
    state["u"] = model.grid_values(grid, points)


def _jacobi(problem, monitor, omega, check_every, times, state) -> str:
    """Plain Jacobi from the network's grid values until the criterion holds; returns the stop reason."""
    u = state["u"]
    state["u_switch"] = u.copy()
    state["switch_time_s"] = monitor.elapsed()
    entry = monitor.record(u, 0, dnn_steps=state["steps"], phase="jacobi")  # the hand-over
    if monitor.satisfied(entry[monitor.criterion.metric]):
        return "converged"
    clock = monitor.elapsed()
    iteration = jacobi_iteration(problem, omega, u)
    done, reason = run_jacobi(iteration, monitor, monitor.criterion.max_iterations, dnn_steps=state["steps"],
                              batch=check_every)
    state["sweeps"] = done
    state["u"] = iteration.solution.copy()
    times["jacobi_s"] = monitor.elapsed() - clock
    return reason
