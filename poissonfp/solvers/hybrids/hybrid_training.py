"""The two-level hybrid's network phase (:func:`~poissonfp.solvers.hybrids.hybrid.solve_hybrid`, steps 1-2): train to
the switch (a fixed step count, or ``"auto"``: until the low modes the Galerkin space captures stop
improving, :class:`LowModeTracker`), or span a classical basis instead, and hand over the Galerkin space
and the network's grid values."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from poissonfp.operators import apply_laplacian
from poissonfp.problem import Problem
from poissonfp.settings import HybridSettings, TrainingSettings
from poissonfp.solvers.base import Monitor
from poissonfp.solvers.hybrids.hybrid_record import TwoLevelRecord

__all__ = ["LowModeTracker", "dnn_phase", "untrained_phase"]


class LowModeTracker:
    """Sine coefficients of the lowest modes (``k_d <= count``) of grid arrays, via small dense transforms.

    ``relative_error(u)`` estimates the relative error of those modes of ``u`` from its residual alone:
    ``||r̂_low|| / ||b̂_low||`` (exact, since A is diagonal in the sine basis).
    """

    def __init__(self, problem: Problem, count: int) -> None:
        grid = problem.grid
        self.problem = problem
        self.bases = []
        for n in grid.shape:
            k = np.arange(1, min(count, n) + 1)
            i = np.arange(1, n + 1)
            self.bases.append(np.sqrt(2.0 / (n + 1)) * np.sin(np.pi * np.outer(i, k) / (n + 1)))
        self.rhs_low = self.coefficients(problem.rhs)
        self.rhs_norm = float(np.linalg.norm(self.rhs_low)) or 1.0

    def coefficients(self, u: np.ndarray) -> np.ndarray:
        c = np.asarray(u)
        for d, basis in enumerate(self.bases):
            c = np.moveaxis(np.tensordot(c, basis, axes=([d], [0])), -1, d)
        return c

    def relative_error(self, u: np.ndarray) -> float:
        r = self.problem.rhs - apply_laplacian(self.problem.grid, u)
        return float(np.linalg.norm(self.coefficients(r))) / self.rhs_norm


@dataclass
class _Phase:
    """What the network phase works with (the problem, the clock, the model and its settings, the
    record it fills and the state a Ctrl-C leaves behind)."""

    problem: Problem
    monitor: Monitor
    model: Any
    points: Any
    training: TrainingSettings
    hybrid: HybridSettings
    times: dict
    record: TwoLevelRecord
    state: dict

    def galerkin(self) -> tuple[Any, np.ndarray]:
        """The Galerkin space over the network's current features and its grid values (timed)."""
        from poissonfp.neural.galerkin import galerkin_output_layer

        start = self.monitor.elapsed()
        space, u = galerkin_output_layer(self.model, self.problem, self.training.rcond, self.points)
        self.times["galerkin_s"] += self.monitor.elapsed() - start
        return space, u

    def grid_values(self) -> np.ndarray:
        return self.model.grid_values(self.problem.grid, self.points)


@dataclass
class _SwitchDecision:
    """Why and where training handed over: ``reason``, the low modes' relative error and change per step."""

    reason: str
    low_error: float | None = None
    change_per_step: float | None = None


class _AutoSwitch:
    """``switch = "auto"``: at steps 1, 2, 4, ... judge what would be handed over (the Galerkin solution
    over the current features) by its low sine modes; stop when they converged, stopped changing, or (with
    Galerkin) a doubling of the steps gained less than ``min_gain`` (then hand over the best iterate)."""

    def __init__(self, phase: _Phase, tracker: LowModeTracker, decision: _SwitchDecision, space: Any,
                 u: np.ndarray) -> None:
        self.phase, self.tracker, self.decision = phase, tracker, decision
        self.last = {"step": 0, "low": tracker.coefficients(u), "next": 1, "space": space, "u": u,
                     "error": decision.low_error}
        self.best = {"error": decision.low_error, "space": space, "u": u, "step": 0}

    def due(self, step: int) -> bool:
        return step >= self.last["next"]

    def judge(self, step: int) -> tuple[bool, np.ndarray]:
        """Whether to hand over at ``step``, and the grid values judged."""
        phase, hybrid, last, decision = self.phase, self.phase.hybrid, self.last, self.decision
        if phase.training.galerkin:
            last["space"], values = phase.galerkin()
        else:
            values = phase.grid_values()
        last["u"] = values
        low = self.tracker.coefficients(values)
        change = float(np.linalg.norm(low - last["low"])) / (float(np.linalg.norm(low)) or 1.0)
        change /= step - last["step"]
        error = self.tracker.relative_error(values)
        gain = last["error"] / error if error > 0 else math.inf
        last.update(step=step, low=low, next=2 * step, error=error)
        decision.low_error, decision.change_per_step = error, change
        if error < self.best["error"]:
            self.best.update(error=error, space=last["space"], u=values, step=step)
        if error <= hybrid.low_tol:
            decision.reason = "low modes converged"
            return True, values
        if change <= hybrid.plateau:
            decision.reason = "low modes stopped changing"
            return True, values
        if gain < hybrid.min_gain and phase.training.galerkin:
            decision.reason = (f"training stopped paying (gain {gain:.3g} < {hybrid.min_gain:g} per doubling); "
                               f"best iterate from step {self.best['step']}")
            decision.low_error = self.best["error"]
            last.update(space=self.best["space"], u=self.best["u"])
            return True, values
        return False, values


def dnn_phase(problem, monitor, model, points, training, hybrid, switch, times, record, state):
    """Train up to the switch; return the Galerkin space at the switch, the network's grid values and the
    trainer. Steps: the space before training, the auto switch's first look, training with the switch's
    judgement at each step, the hand-over, the record."""
    from poissonfp.neural.training import Trainer

    if hybrid.coarse != "network":
        return _classical_phase(problem, monitor, model, training, hybrid, times, record)
    phase = _Phase(problem, monitor, model, points, training, hybrid, times, record, state)
    auto = switch == "auto"
    budget = training.adam_steps + training.lbfgs_steps if auto else int(switch)
    space: Any
    u: Any
    space, u = phase.galerkin() if training.galerkin or budget == 0 else (None, None)
    decision = _SwitchDecision("budget" if auto else "fixed")
    tracker = LowModeTracker(problem, hybrid.low_modes) if auto else None
    if budget > 0:
        u = phase.grid_values() if u is None else u
        if tracker is not None:
            decision.low_error = tracker.relative_error(u)
            if decision.low_error <= hybrid.low_tol:
                decision.reason, budget = "low modes converged", 0
    trainer = Trainer(model, None, training.learning_rate)
    if budget > 0:
        switcher = _AutoSwitch(phase, tracker, decision, space, u) if tracker is not None else None
        space, u = _train_to_switch(phase, trainer, budget, switcher, space, u)
    record.switch_reason = decision.reason
    record.low_mode_error_at_switch = decision.low_error
    record.low_mode_change_per_step = decision.change_per_step
    record.galerkin_rank, record.galerkin_features, record.galerkin_condition = space.rank, space.size, space.condition
    return space, u, trainer


def _train_to_switch(phase: _Phase, trainer: Any, budget: int, switcher: _AutoSwitch | None, space: Any,
                     u: np.ndarray) -> tuple[Any, np.ndarray]:
    """Train (Adam, then L-BFGS) until the budget or the auto switch says so, recording every
    ``budget // 64`` steps; return the space and grid values handed over."""
    from poissonfp.neural.losses import make_loss

    monitor, training, times, record = phase.monitor, phase.training, phase.times, phase.record
    start, galerkin_before = monitor.elapsed(), times["galerkin_s"]
    trainer.loss = make_loss(phase.problem, phase.model, training.loss, training.points, training.quadrature_order)
    record.loss_points = trainer.loss.points
    every = max(1, budget // 64)
    monitor.record(u, 0, dnn_steps=0, phase="dnn")

    def on_step(step: int, _loss: float) -> bool:
        phase.state["steps"] = step
        values = None
        if switcher is not None and switcher.due(step):
            stop, values = switcher.judge(step)
            if stop:
                return True
        if step % every == 0:
            values = phase.grid_values() if values is None else values
            monitor.record(values, 0, dnn_steps=step, phase="dnn")
        return step >= budget

    adam = min(budget, training.adam_steps) if switcher is None else training.adam_steps
    if not trainer.adam(adam, on_step):
        trainer.lbfgs(max(0, budget - trainer.steps), on_step)
    phase.state["steps"] = trainer.steps
    times["train_s"] = monitor.elapsed() - start - (times["galerkin_s"] - galerkin_before)
    if switcher is not None and switcher.last["step"] == trainer.steps:
        space, u = switcher.last["space"], switcher.last["u"]
    elif training.galerkin or space is None:
        space, u = phase.galerkin()
    else:
        u = phase.grid_values()
    record.loss_history = trainer.loss_history()
    record.loss_points = trainer.loss.points
    record.quadrature_fallback_step = trainer.fallback_step
    return space, u


def untrained_phase(problem, monitor, model, points, training, hybrid, times, record):
    """Off the box with ``switch = "auto"``: the auto switch reads low sine modes, which are not A's
    eigenvectors there, so the untrained network's features (or the classical basis of ``hybrid.coarse``)
    span the coarse space over the general operator; a fixed ``switch = M`` trains M steps instead.
    Returns the space and its Galerkin solution of ``A u = b`` (the initial iterate)."""
    if hybrid.coarse != "network":
        return _classical_phase(problem, monitor, model, training, hybrid, times, record)[:2]
    from poissonfp.neural.galerkin import galerkin_space

    start = monitor.elapsed()
    space = galerkin_space(problem, model.grid_features(problem.grid, points), training.rcond)
    u = space.correction(problem.rhs)
    times["galerkin_s"] += monitor.elapsed() - start
    assert problem.general is not None
    record.switch_reason = (f"untrained network: the auto switch reads sine modes, which are not A's eigenvectors "
                            f"on a problem with {problem.general.why_not_box} (a fixed switch M trains M steps)")
    record.galerkin_rank, record.galerkin_features, record.galerkin_condition = space.rank, space.size, space.condition
    return space, u


def _classical_phase(problem, monitor, model, training, hybrid, times, record):
    """The coarse space of a classical basis (``hybrid.coarse``) with as many functions as the network's
    features, untrained: the control that shows what the network contributes. Returns the Galerkin space,
    its solution (the initial iterate) and no trainer."""
    from poissonfp.neural.bases import classical_features

    start = monitor.elapsed()
    from poissonfp.neural.galerkin import galerkin_space

    features = classical_features(problem.grid, hybrid.coarse, model.width + 1)
    space = galerkin_space(problem, features, training.rcond)
    u = space.correction(problem.rhs)
    times["galerkin_s"] += monitor.elapsed() - start
    record.switch_reason = f"classical coarse space ({hybrid.coarse}): no network training"
    record.coarse = hybrid.coarse
    record.galerkin_rank, record.galerkin_features, record.galerkin_condition = space.rank, space.size, space.condition
    return space, u, None


