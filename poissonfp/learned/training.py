"""Train an operator network once on a family of right-hand sides of one discrete operator.

Targets are exact: ``u = A⁻¹ r`` by :meth:`~poissonfp.discrete_operator.DiscreteOperator.solve` (the sine
transform on the box, a sparse LU elsewhere). The map is linear, so inputs are normalised to unit RMS and
the targets scaled alike. The loss is the relative energy norm of the error,
``‖N(r) − A⁻¹r‖_A / ‖A⁻¹r‖_A`` (``‖u‖_A² = (u, r)``), which weighs each sine mode by its eigenvalue: the
measure in which the operator iteration's energy-optimal step gains. The held-out error is reported overall
and per frequency band of the orthonormal DST (:func:`band_errors`): the F-Principle predicts low bands
accurate and high bands poor.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..discrete_operator import DiscreteOperator
from .family import DEFAULT_SPREAD, case_sources, grf_sources, source_parameters

__all__ = [
    "BAND_EDGES",
    "FAMILIES",
    "band_energy",
    "band_errors",
    "energy_errors",
    "family_record",
    "family_sources",
    "train_operator",
]

#: Frequency bands (fractions of the modes per axis): ``(0, 1/8]`` is "the lowest 1/8 of the modes".
BAND_EDGES = (0.0, 0.125, 0.25, 0.5, 1.0)
#: Right-hand-side families (``--family``): Gaussian random fields, the case's source with random parameters.
FAMILIES = ("grf", "case")
#: Coordinate names of the case files, by dimension.
_VARIABLES = ("x", "y", "z")


def _band_index(shape: tuple[int, ...], edges: Sequence[float]) -> np.ndarray:
    """Per sine mode, its band: ``max_d k_d / n_d`` falls in ``(edges[b], edges[b + 1]]``."""
    axes = np.meshgrid(*(np.arange(1, n + 1) / n for n in shape), indexing="ij", sparse=True)
    reach = np.maximum.reduce([np.broadcast_to(a, shape) for a in axes]) if len(shape) > 1 else axes[0]
    return np.searchsorted(np.asarray(edges), reach, side="left") - 1


#: A band whose part of the target's DST norm is below this fraction of the whole holds round-off only.
EMPTY_BAND = 1e-8


def band_errors(predicted: np.ndarray, target: np.ndarray, edges: Sequence[float] = BAND_EDGES) -> list[dict]:
    """Relative L2 error of ``predicted`` against ``target`` (both ``(K, *shape)``) per DST band.

    Each band's error is ``‖P_b(predicted − target)‖ / ‖P_b target‖`` summed over the K samples, ``P_b`` the
    projection on the sine modes whose largest ``k_d / n_d`` lies in ``(edges[b], edges[b+1]]`` (off the box
    the sine modes of the box grid are a frequency scale, not the operator's eigenvectors).
    """
    import scipy.fft

    axes = tuple(range(1, np.ndim(target)))
    error = scipy.fft.dstn(np.asarray(predicted) - target, type=1, norm="ortho", axes=axes)
    size = scipy.fft.dstn(np.asarray(target, dtype=float), type=1, norm="ortho", axes=axes)
    band = _band_index(target.shape[1:], edges)
    total = float(np.sqrt(np.sum(size**2)))
    out = []
    for b in range(len(edges) - 1):
        selected = band == b
        if not selected.any():
            continue
        norm = float(np.sqrt(np.sum(size[:, selected] ** 2)))
        # a band holding only round-off of the target (e.g. modes a symmetric source does not excite) has no
        # meaningful relative error: None, with its share of the target's norm beside it
        value = float(np.sqrt(np.sum(error[:, selected] ** 2))) / norm if norm > EMPTY_BAND * total else None
        out.append({"band": f"{edges[b]:g}-{edges[b + 1]:g}", "modes": int(selected.sum()), "error": value,
                    "share": norm / total if total > 0 else 0.0})
    return out


def energy_errors(operator: DiscreteOperator, predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Relative energy-norm error ``‖p − u‖_A / ‖u‖_A`` per sample (``(K, *shape)`` arrays)."""
    k = target.shape[0]
    e = (np.asarray(predicted) - target).reshape(k, -1)
    u = np.asarray(target).reshape(k, -1)
    matrix = operator.matrix
    e_energy = np.einsum("ij,ij->i", e, (matrix @ e.T).T)
    u_energy = np.einsum("ij,ij->i", u, (matrix @ u.T).T)
    return np.sqrt(np.maximum(e_energy, 0.0) / u_energy)


def family_record(family: str, settings: dict | None, ndim: int) -> dict:
    """The family's full settings as recorded in ``model.json`` (defaults filled in; for ``case`` the
    template, nominal values and draw rule of :func:`~poissonfp.learned.family.source_parameters`).

    Raises:
        ValueError: For an unknown family or settings; FamilyError (a ValueError) for a source with nothing
            to vary.
    """
    settings = dict(settings or {})
    if family == "grf":
        unknown = set(settings) - {"k0", "decay"}
        record = {"k0": 4.0, "decay": 2.0, **settings}
    elif family == "case":
        unknown = set(settings) - {"source", "spread"}
        if "source" not in settings:
            raise ValueError("the case family needs the case's source formula (family_settings['source'])")
        spread = float(settings.get("spread", DEFAULT_SPREAD))
        record = source_parameters(str(settings["source"]), _VARIABLES[:ndim]).describe(spread)
    else:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if unknown:
        raise ValueError(f"unknown {family} family setting(s) {', '.join(sorted(unknown))}")
    return {"name": family, **record}


def family_sources(operator: DiscreteOperator, count: int, seed: int, record: dict) -> np.ndarray:
    """``count`` right-hand sides of the family ``record`` (:func:`family_record`) on the operator's grid,
    zero outside its domain, unit RMS inside, seeded."""
    if record["name"] == "grf":
        return grf_sources(operator.grid, count, seed, mask=operator.inside, k0=record["k0"], decay=record["decay"])
    parameters = source_parameters(record["source"], _VARIABLES[:operator.grid.ndim])
    return case_sources(parameters, operator.grid, count, seed, spread=record["spread"], mask=operator.inside)[0]


def band_energy(sources: np.ndarray, edges: Sequence[float] = BAND_EDGES) -> list[dict]:
    """Share of the sources' energy (sum of squared orthonormal DST coefficients) per band: the family's
    measured spectrum."""
    import scipy.fft

    axes = tuple(range(1, sources.ndim))
    power = scipy.fft.dstn(sources, type=1, norm="ortho", axes=axes) ** 2
    band = _band_index(sources.shape[1:], edges)
    total = float(power.sum())
    return [{"band": f"{edges[b]:g}-{edges[b + 1]:g}", "share": float(power[:, band == b].sum()) / total}
            for b in range(len(edges) - 1) if (band == b).any()]


def _dataset(operator: DiscreteOperator, count: int, seed: int, record: dict) -> tuple[np.ndarray, np.ndarray]:
    sources = family_sources(operator, count, seed, record)
    if operator.singular:  # all-Neumann: only sources of zero sum are solvable
        sources[:, operator.inside] -= sources[:, operator.inside].mean(axis=1, keepdims=True)
    targets = np.stack([operator.project(operator.solve(r)) for r in sources])
    return sources, targets


def _sparse_matrix(operator: DiscreteOperator, device: str, dtype):
    import torch

    coo = operator.matrix.tocoo()
    indices = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    return torch.sparse_coo_tensor(indices, torch.as_tensor(coo.data, dtype=dtype), coo.shape,
                                   device=device, check_invariants=True).coalesce()


def train_operator(operator: DiscreteOperator, *, case: str = "", arch: str = "unet",
                   settings: dict | None = None, samples: int = 1024, held_out: int = 64, steps: int = 2000,
                   batch: int = 16, learning_rate: float = 2e-3, seed: int = 0, family: str = "grf",
                   family_settings: dict | None = None, device: str = "cpu",
                   callback: Callable[[dict], None] | None = None, resume: dict | None = None,
                   out: str | None = None) -> tuple[Any, dict]:
    """Train a network for ``r -> A⁻¹ r`` of ``operator`` (the case's operator at the training grid).

    Args:
        operator: the discrete operator (``build_problem(case, size=n).operator``).
        case: the case's name (recorded; the solve refuses a model of another case).
        arch, settings: architecture (:data:`~poissonfp.learned.architectures.ARCHITECTURES`) and its
            settings (defaults in :data:`~poissonfp.learned.architectures.DEFAULTS`).
        samples, held_out: training and held-out right-hand sides (drawn with seeds ``seed`` and
            ``seed + 1``).
        steps: Adam steps (0: the untrained network, the control); batch: samples per step;
            learning_rate: peak rate of a cosine schedule.
        seed: seeds the network's initial weights, the data and the batches.
        family, family_settings: the right-hand-side family (:data:`FAMILIES`) and its parameters
            (``grf``: :func:`~poissonfp.learned.family.grf_sources`' ``k0``, ``decay``; ``case``: the case's
            ``source`` formula and the ``spread`` of its numbers, :func:`~poissonfp.learned.family.case_sources`).
        device: ``"cpu"`` or ``"cuda"`` (the same code path).
        callback: receives ``{"step", "steps", "loss", "elapsed_s", "eta_s"}`` every few steps.
        resume: a checkpoint (:func:`~poissonfp.learned.store.load_checkpoint`) to continue from.
        out: a model folder to save into (:func:`~poissonfp.learned.store.save_model`), or None.

    Returns:
        ``(model, report)``: the :class:`~poissonfp.learned.store.OperatorModel` and a dict with
        ``training_s``, ``steps_done``, ``interrupted``, ``held_out`` (``energy`` mean error, ``bands``
        per-band errors) and ``loss`` (history). A Ctrl-C stops training at the current step: the model
        then carries a checkpoint and ``interrupted`` is True.
    """
    import torch

    from .architectures import build_network, parameter_count
    from .store import FORMAT, OperatorModel, operator_fingerprint, save_model

    if steps < 0 or samples < 1 or held_out < 1 or batch < 1:
        raise ValueError(f"need steps >= 0 and samples, held_out, batch >= 1; got {steps}, {samples}, "
                         f"{held_out}, {batch}")
    settings = dict(settings or {})
    grid = operator.grid
    record = family_record(family, family_settings, grid.ndim)
    network = build_network(arch, grid.ndim, seed, shape=grid.shape, **settings).to(device)
    if arch == "deeponet":  # its sensors are the training grid's points: recorded, so that loading rebuilds it
        settings["points"] = network.points
    sources, targets = _dataset(operator, samples, seed, record)
    record["band_energy"] = band_energy(sources)
    scale = float(np.sqrt(np.mean(targets**2)))
    dtype = next(network.parameters()).dtype
    matrix = _sparse_matrix(operator, device, dtype)
    inside = torch.as_tensor(operator.inside, device=device)
    x_all = torch.as_tensor(sources, dtype=dtype, device=device).unsqueeze(1)
    u_all = torch.as_tensor(targets / scale, dtype=dtype, device=device)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    start_step, spent, history = 0, 0.0, []
    if resume is not None:
        network.load_state_dict(resume["network"])
        optimizer.load_state_dict(resume["optimizer"])
        start_step, spent, history = int(resume["step"]), float(resume["training_s"]), list(resume["loss"])
    started, step, interrupted = time.perf_counter(), start_step, False
    network.train()
    try:
        while step < steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            chosen = np.random.default_rng([seed, step]).choice(samples, size=min(batch, samples), replace=False)
            index = torch.as_tensor(chosen, device=device)
            error = torch.where(inside, network(x_all[index])[:, 0] - u_all[index], 0.0).reshape(len(chosen), -1)
            target = u_all[index].reshape(len(chosen), -1)
            error_energy = (error * torch.sparse.mm(matrix, error.T).T).sum(dim=1)
            target_energy = (target * torch.sparse.mm(matrix, target.T).T).sum(dim=1)
            loss = torch.sqrt(error_energy.clamp_min(0.0) / target_energy).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            history.append(float(loss.detach()))
            if callback is not None and (step % 10 == 0 or step == steps):
                elapsed = time.perf_counter() - started
                eta = elapsed / (step - start_step) * (steps - step)
                callback({"step": step, "steps": steps, "loss": float(np.mean(history[-10:])),
                          "elapsed_s": spent + elapsed, "eta_s": eta})
    except KeyboardInterrupt:
        interrupted = True
    training_s = spent + time.perf_counter() - started
    network.eval()
    meta = {"format": FORMAT, "case": case, "fingerprint": operator_fingerprint(operator),
            "grid": {"lower": list(grid.lower), "upper": list(grid.upper), "shape": list(grid.shape)},
            "sides": [list(s) for s in operator.sides], "box": operator.box,
            "arch": arch, "settings": settings, "parameters": parameter_count(network),
            "family": record, "samples": samples, "held_out_samples": held_out,
            "seed": seed, "steps": steps, "steps_done": step, "batch": batch, "learning_rate": learning_rate,
            "loss": "relative energy norm", "scale": scale, "device": device, "training_s": training_s,
            "interrupted": interrupted}
    checkpoint = None
    if interrupted:
        checkpoint = {"network": {k: v.cpu() for k, v in network.state_dict().items()},
                      "optimizer": optimizer.state_dict(), "step": step, "training_s": training_s, "loss": history}
    model = OperatorModel(network, meta, operator.inside, device=device, checkpoint=checkpoint)
    test_sources, test_targets = _dataset(operator, held_out, seed + 1, record)
    predicted = model.apply(test_sources)
    meta["held_out"] = {"energy": float(np.mean(energy_errors(operator, predicted, test_targets))),
                        "bands": band_errors(predicted, test_targets)}
    meta["loss_final"] = float(np.mean(history[-20:])) if history else None
    report = {"training_s": training_s, "steps_done": step, "interrupted": interrupted,
              "held_out": meta["held_out"], "loss": history}
    if out is not None:
        save_model(model, out)
    return model, report
