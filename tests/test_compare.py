"""``poissonfp compare``: every registered method on one tiny problem, the JSON record and the figures."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp import load_case
from poissonfp.cli import main
from poissonfp.compare import compare_methods, plan_runs
from poissonfp.solvers import SOLVERS

CASES = Path(__file__).resolve().parents[1] / "cases"
REQUIRED_KEYS = {"label", "case", "method", "grid_shape", "converged", "stop_reason", "wall_time_s", "iterations",
                 "dnn_steps", "rel_residual", "error_vs_exact_rel_l2", "error_vs_exact_inf",
                 "error_vs_discrete_rel_l2", "history", "modes", "info", "speedup_vs_jacobi", "reached"}


def _short_training_case(tmp_path: Path, case_name: str) -> Path:
    """The shipped case with 10 Adam steps (tests check the plumbing, not the network)."""
    text = (CASES / f"{case_name}.toml").read_text()
    if re.search(r"^adam_steps\s*=", text, flags=re.M):
        text = re.sub(r"^adam_steps\s*=.*$", "adam_steps = 10", text, flags=re.M)
    elif "[training]" in text:
        text = text.replace("[training]", "[training]\nadam_steps = 10", 1)
    else:
        text += "\n[training]\nadam_steps = 10\n"
    path = tmp_path / f"{case_name}.toml"
    path.write_text(text)
    assert load_case(path).training.adam_steps == 10
    return path


def _expected_labels(methods: list[str], switches: list[int]) -> list[str]:
    return [run.label for run in plan_runs(methods, switches) if run.method in SOLVERS]


@pytest.mark.parametrize("case_name, size", [("1d_article", 64), ("2d_square", 15)])
def test_compare_writes_one_entry_per_method(tmp_path, case_name, size):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", str(_short_training_case(tmp_path, case_name)), "--n", str(size),
                                       "--switch", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "compare.json").read_text())
    labels = [entry["label"] for entry in data["entries"]]
    assert labels == _expected_labels(["jacobi", "dnn", "hybrid", "multigrid", "dst", "direct"], [3])
    for entry in data["entries"]:
        assert REQUIRED_KEYS <= set(entry), REQUIRED_KEYS - set(entry)
        assert entry["reached"] or entry["note"].startswith(("never reached", "diverged"))
    jacobi = data["entries"][0]
    assert jacobi["reached"] and jacobi["speedup_vs_jacobi"] == 1.0
    assert data["criterion"] == "discretization" and data["threshold"] > 0
    assert (out / "error_vs_time.png").stat().st_size > 0 and (out / "modes_jacobi.png").stat().st_size > 0
    if "dnn" in labels:
        assert (out / "modes_dnn.png").exists()
    assert "speed-up" in result.output and "jacobi" in result.output


def test_references_agree():
    case = load_case(CASES / "2d_square.toml").with_overrides(size=15)
    comparison = compare_methods(case, ["direct", "dst", "multigrid"], switches=None)
    solutions = {entry.label: entry.result.solution for entry in comparison.entries}
    scale = np.linalg.norm(solutions["dst"])
    assert np.linalg.norm(solutions["direct"] - solutions["dst"]) / scale < 1e-8
    # multigrid stops at the case's criterion; the references agree once it has converged further
    assert comparison.entry("multigrid").record["reached"]
    strict = case.with_overrides(criterion="discrete", tol=1e-11)
    multigrid = compare_methods(strict, ["multigrid"]).entry("multigrid").result.solution
    assert np.linalg.norm(multigrid - solutions["dst"]) / scale < 1e-8


def test_speedup_only_when_both_reach(tmp_path):
    case = load_case(CASES / "1d_article.toml").with_overrides(size=64, max_iterations=10)
    comparison = compare_methods(case, ["jacobi", "dst"])
    jacobi, dst = comparison.entry("jacobi").record, comparison.entry("dst").record
    assert not jacobi["reached"] and "never reached" in jacobi["note"] and jacobi["best_metric"] > 0
    assert jacobi["speedup_vs_jacobi"] is None and dst["speedup_vs_jacobi"] is None


def test_bad_case_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = "many"\n[problem]\nsource = "1"\n')
    result = CliRunner().invoke(main, ["compare", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "[grid] points" in result.output


def test_unknown_method_is_a_usage_error():
    result = CliRunner().invoke(main, ["compare", str(CASES / "1d_article.toml"), "--methods", "jacobi,gauss"])
    assert result.exit_code == 2 and "gauss" in result.output


def test_interrupted_solve_ends_the_comparison(monkeypatch):
    def interrupted(problem, monitor, **_):
        return monitor.result("dst", np.zeros(problem.grid.shape), "interrupted")

    monkeypatch.setitem(SOLVERS, "dst", interrupted)
    case = load_case(CASES / "1d_article.toml").with_overrides(size=64)
    comparison = compare_methods(case, ["jacobi", "dst", "direct"])
    assert comparison.interrupted and [e.label for e in comparison.entries] == ["jacobi", "dst"]
