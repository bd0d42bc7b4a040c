"""What a comparison leaves on disk: ``compare.json``, ``table.txt`` and its figures.

Figures (every one from :mod:`poissonfp.plotting.compare`, every per-mode figure on the same tracked modes:
the peaks of the discrete solution's sine spectrum that each solve recorded):

- ``error_vs_time.png``: every entry, the hand-over of switched methods marked;
- ``switch_<method>_error_vs_time.png``: one curve per M (and pure Jacobi), the switch marked;
- ``switch_<method>_tradeoff.png``: wall time and sweeps against M, training and sweep parts stacked;
- ``modes_dnn.png``: the plain network's training (the article's scheme, nothing solved; or the DNN alone
  before its closing Galerkin solve); ``modes_jacobi.png``: pure Jacobi's sweeps;
- ``switch_modes.png``: each switched entry's per-peak error at the hand-over;
- with a seeded switch study (``seed_study``): ``switch_article_panel.png``, the article's panel d
  (‖h − u‖∞ against wall time: pure Jacobi, the plain network alone along the first seed's trajectory, and
  the timed article entries at several M, hand-overs marked) and ``switch_article_seeds.png`` (exact sweeps,
  the slow modes' amplitude at the hand-over and the modelled time against M, one line per seed, with the
  classical stand-ins).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from poissonfp.results import save_figure, write_json, write_text
from poissonfp.studies.compare import Comparison, format_table
from poissonfp.studies.switch_study import SWITCHED_METHODS

__all__ = ["handover_index", "save_comparison"]

_NAMES = {"article": "the article's scheme (train M steps, then plain Jacobi)",
          "hybrid": "network Galerkin two-level hybrid"}


def handover_index(history: dict) -> int | None:
    """Index of the hand-over record: the last one taken before any sweep (``iteration`` 0)."""
    zeros = [i for i, sweeps in enumerate(history.get("iteration", [])) if sweeps == 0]
    return zeros[-1] if zeros else None


def _switch_point(record: dict, metric: str) -> tuple[float, float] | None:
    history = record.get("history") or {}
    index = handover_index(history)
    values = history.get(metric) or []
    if record.get("method") not in SWITCHED_METHODS or index is None:
        return None
    if index >= min(len(values), len(history["time_s"])):
        return None
    time_s, value = history["time_s"][index], values[index]
    return (time_s, value) if value is not None else None


def _curves(records: list[dict], metric: str) -> list[dict]:
    return [{**r, "switch_point": _switch_point(r, metric)} for r in records]


def save_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """Write ``compare.json``, ``table.txt`` and the figures into ``out_dir``; return the paths."""
    from poissonfp.plotting import compare as plots

    out = Path(out_dir)
    data = comparison.to_dict()
    paths = [write_json(out / "compare.json", data), write_text(out / "table.txt", format_table(comparison) + "\n")]
    where = f"{comparison.case}, grid {'x'.join(map(str, comparison.grid_shape))}"
    metric, threshold = comparison.metric, comparison.threshold
    paths.append(save_figure(plots.plot_error_vs_time(_curves(data["entries"], metric), metric, threshold,
                                                      f"Error against wall time ({where})"),
                             out / "error_vs_time.png"))
    jacobi = [r for r in data["entries"] if r["label"] == "jacobi"]
    for method, study in data["switch_study"].items():
        labels = {run["label"] for run in study["runs"]}
        curves = jacobi + [r for r in data["entries"] if r["label"] in labels]
        paths.append(save_figure(plots.plot_error_vs_time(
            _curves(curves, metric), metric, threshold,
            f"{_NAMES[method]}: one curve per M, switch marked ({where})"),
            out / f"switch_{method}_error_vs_time.png"))
        paths.append(save_figure(plots.plot_tradeoff(study, f"Trade-off in M, {_NAMES[method]} ({where})"),
                                 out / f"switch_{method}_tradeoff.png"))
    if data.get("seed_study"):
        paths += _seed_study_figures(data, where, out)
    paths += _mode_figures(comparison, data["entries"], where, out)
    return paths


def dnn_alone_curve(study: dict) -> dict:
    """The plain network alone along the first seed's trajectory, as a record for the error-time plot:
    ``‖h − u‖∞`` at each snapshot against set-up plus the optimiser's wall time (the axis of the timed entries)."""
    seed = study["per_seed"][0]
    runs = [run for run in seed["runs"] if run["error_vs_exact_inf"] is not None]
    return {"label": f"DNN alone (plain network, Adam, seed {seed['seed']}, to M = {study['switches'][-1]})",
            "reached": False, "history": {"time_s": [seed["setup_time_s"] + run["training_wall_s"] for run in runs],
                                          "error_vs_exact_inf": [run["error_vs_exact_inf"] for run in runs]}}


def _seed_study_figures(data: dict, where: str, out: Path) -> list[Path]:
    from poissonfp.plotting import compare as plots

    study = data["seed_study"]
    paths = []
    timed = [r for r in data["entries"] if r["label"] == "jacobi" or r.get("method") == "article"]
    metric = "error_vs_exact_inf"
    if any(metric in (r.get("history") or {}) for r in timed):
        reference = max(r.get("discretization_error_inf") or 0.0 for r in timed) or study["threshold"]
        curves = [*_curves(timed, metric), dnn_alone_curve(study)]
        paths.append(save_figure(plots.plot_error_vs_time(
            curves, metric, reference, f"Article's panel d: DNN alone, pure Jacobi, DNN -> Jacobi ({where})",
            threshold_label=f"discretization error {reference:.2e}"), out / "switch_article_panel.png"))
    paths.append(save_figure(plots.plot_seed_study(
        study, f"Switch study of the article's scheme over seeds {','.join(map(str, study['seeds']))} ({where}, "
               f"{study['criterion']} criterion)"), out / "switch_article_seeds.png"))
    return paths


def _mode_figures(comparison: Comparison, records: list[dict], where: str, out: Path) -> list[Path]:
    from poissonfp.plotting import compare as plots

    paths = []
    plain = _plain_network(records)
    if plain is not None:
        steps, modes, errors = plain
        title = (f"Relative error per peak, plain network trained by Adam, output layer not solved "
                 f"({where})")
        paths.append(save_figure(plots.plot_mode_heatmap(steps, modes, errors, "DNN training steps", title),
                                 out / "modes_dnn.png"))
    jacobi = next((r for r in records if r["label"] == "jacobi" and r.get("modes")), None)
    if jacobi is not None:
        modes = jacobi["modes"]
        count = min(len(modes["iteration"]), len(modes["relative_error"]))  # an interrupt may cut one short
        paths.append(save_figure(plots.plot_mode_heatmap(
            modes["iteration"][:count], modes["modes"], modes["relative_error"][:count], "Jacobi sweeps",
            f"Relative error per peak, pure Jacobi from zero ({where})", log_x=True), out / "modes_jacobi.png"))
    switch = _switch_mode_errors(records)
    if switch is not None:
        paths.append(save_figure(plots.plot_switch_mode_errors(*switch, f"Error per peak at the hand-over ({where})"),
                                 out / "switch_modes.png"))
    return paths


def _plain_network(records: list[dict]) -> tuple[list, list, list] | None:
    """Steps, modes and per-record errors of the plain network's training: the article entry that trained
    most, else the DNN alone without its closing Galerkin record. None when neither trained."""
    candidates = [r for r in records if r.get("method") == "article" and r.get("modes") and r.get("dnn_steps")]
    candidates.sort(key=lambda r: r["dnn_steps"], reverse=True)
    candidates += [r for r in records if r.get("method") == "dnn" and r.get("modes") and r.get("dnn_steps")]
    for record in candidates:
        history, modes = record["history"], record["modes"]
        count = min(len(history["iteration"]), len(history["dnn_steps"]), len(modes["relative_error"]))
        keep = [i for i, sweeps in enumerate(history["iteration"][:count]) if sweeps == 0]
        if record["method"] == "dnn" and (record.get("info") or {}).get("galerkin_rank") is not None:
            keep = keep[:-1]  # the final record follows the closing Galerkin solve
        seen, steps, errors = set(), [], []
        for i in keep:
            step = history["dnn_steps"][i]
            if step not in seen:
                seen.add(step)
                steps.append(step)
                errors.append(modes["relative_error"][i])
        if len(steps) > 1:
            return steps, modes["modes"], errors
    return None


def _switch_mode_errors(records: list[dict]) -> tuple[list[str], Any, list] | None:
    """Labels, modes and per-mode errors at the hand-over of every switched entry, from the same mode
    records as the heat maps."""
    labels, modes, errors = [], None, []
    for record in records:
        if record.get("method") not in SWITCHED_METHODS or not record.get("modes"):
            continue
        index = handover_index(record["history"])
        if index is None or index >= len(record["modes"]["relative_error"]):
            continue
        if modes is not None and record["modes"]["modes"] != modes:
            continue
        labels.append(record["label"])
        modes = record["modes"]["modes"]
        errors.append(record["modes"]["relative_error"][index])
    return (labels, modes, errors) if labels else None
