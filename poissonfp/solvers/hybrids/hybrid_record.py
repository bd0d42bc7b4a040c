"""What the two-level hybrid reports about one solve: a typed record instead of a loose ``info`` dict.

:func:`poissonfp.solvers.hybrids.hybrid.solve_hybrid` fills a :class:`TwoLevelRecord` as its phases run and puts
:meth:`TwoLevelRecord.to_dict` into ``SolveResult.info`` (JSON-able; fields that do not apply to the
solve, such as the loss of an untrained classical coarse space, are left out).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TwoLevelRecord"]


def _phase_times() -> dict[str, float]:
    return {"network_s": 0.0, "train_s": 0.0, "galerkin_s": 0.0, "cycles_s": 0.0, "tail_s": 0.0}


@dataclass
class TwoLevelRecord:
    """The two-level hybrid's account of one solve.

    Attributes:
        switch_setting: The requested switch (training steps or ``"auto"``).
        cycle: The cycle that ran, always ``"two-level"`` here (asked for by ``[hybrid] cycle``; the
            multilevel hybrid records ``"multilevel"``): nothing falls back to it silently.
        switch_reason: Why training stopped: ``fixed``, ``low modes converged``, ``low modes stopped
            changing``, ``training stopped paying ...``, ``budget`` or a classical coarse space's note.
        low_mode_error_at_switch: The auto switch's signal: relative error of the lowest modes.
        low_mode_change_per_step: The auto switch's signal: their change per training step.
        coarse: The classical coarse basis, when one replaced the network (else None).
        galerkin_features: Functions of the coarse space.
        galerkin_rank: Its numerical rank.
        galerkin_condition: Its condition number.
        loss_history: The training loss per step (when trained).
        loss_points: Collocation / quadrature points of the loss (when trained).
        quadrature_fallback_step: Step at which the loss fell back from quadrature (when it did).
        corrections: Coarse corrections applied.
        sweeps_per_correction: Jacobi sweeps between two corrections.
        smoothing_omega: Jacobi weight of the cycles.
        correction_stop: ``converged``, ``stalled``, ``cap`` or ``not needed``.
        cycle_residuals: True residual norm before each correction (subsampled to about 100).
        cycle_sweeps: Sweeps spent in the cycles.
        tail_sweeps: Sweeps of the plain Jacobi tail.
        dnn_steps: Training steps (the switch step).
        jacobi_sweeps: All sweeps.
        omega_tail: Jacobi weight of the tail.
        phase_reached: ``dnn``, ``correction`` or ``jacobi``.
        times_s: Monitor-clock seconds per phase (``network_s``, ``train_s``, ``galerkin_s``, ``cycles_s``,
            ``tail_s``; recording excluded).
        modes_at_switch: Relative error of the network's Galerkin solution at the switch in the three
            largest sine peaks of the discrete solution (computed after the clock stopped).
    """

    switch_setting: int | str
    cycle: str = "two-level"
    switch_reason: str | None = None
    low_mode_error_at_switch: float | None = None
    low_mode_change_per_step: float | None = None
    coarse: str | None = None
    galerkin_features: int | None = None
    galerkin_rank: int | None = None
    galerkin_condition: float | None = None
    loss_history: list | None = None
    loss_points: int | None = None
    quadrature_fallback_step: int | None = None
    corrections: int | None = None
    sweeps_per_correction: int | None = None
    smoothing_omega: float | None = None
    correction_stop: str | None = None
    cycle_residuals: list | None = None
    cycle_sweeps: int | None = None
    tail_sweeps: int | None = None
    dnn_steps: int = 0
    jacobi_sweeps: int = 0
    omega_tail: float | None = None
    phase_reached: str = "dnn"
    times_s: dict[str, float] = field(default_factory=_phase_times)
    modes_at_switch: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able ``info`` dict: every field that applies, plus ``switch_step`` (= ``dnn_steps``),
        ``training_time_s`` and ``galerkin_time_s`` (from ``times_s``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out = {key: value for key, value in values.items() if value is not None}
        out.update(switch_step=self.dnn_steps, training_time_s=self.times_s["train_s"],
                   galerkin_time_s=self.times_s["galerkin_s"])
        return out
