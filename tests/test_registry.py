"""One method registry: the solvers, the case loader, every command's choices and lists derive from it."""
import dataclasses

import click
import pytest

from poissonfp.cli import main
from poissonfp.cli.params import CommaList, switch_point
from poissonfp.methods import (
    BENCH_METHODS,
    BENCH_OPTIONAL,
    BENCH_VARIANTS,
    COARSE_SPACES,
    METHODS,
    REGISTRY,
    SWITCHED_METHODS,
    compare_defaults,
)
from poissonfp.settings import CRITERIA, HybridSettings, SolverSettings
from poissonfp.solvers import SOLVERS


def option(command: str, name: str) -> click.Parameter:
    return next(p for p in main.commands[command].params if p.name == name)


def test_solvers_and_case_loader_know_exactly_the_registered_methods():
    assert set(SOLVERS) == set(METHODS) and tuple(REGISTRY) == METHODS  # other tests may re-register one
    choices = {f.name: f.metadata["choices"] for f in dataclasses.fields(SolverSettings)}
    assert choices["method"] == METHODS
    assert {f.name: f.metadata["choices"] for f in dataclasses.fields(HybridSettings)}["coarse"] == COARSE_SPACES


def test_cli_choices_equal_the_registry():
    assert tuple(option("solve", "method").type.choices) == METHODS
    assert tuple(option("compare", "methods").type.choices) == METHODS
    assert tuple(option("bench", "methods").type.choices) == BENCH_METHODS + BENCH_OPTIONAL
    for command in ("solve", "compare"):
        assert tuple(option(command, "criterion").type.choices) == CRITERIA
    assert tuple(option("solve", "coarse").type.choices) == COARSE_SPACES
    assert tuple(option("compare", "coarses").type.choices) == COARSE_SPACES


def test_command_lists_derive_from_the_registry():
    assert compare_defaults(1) == tuple(m.name for m in REGISTRY.values() if m.by_default)
    assert "operator" in METHODS and "operator" not in compare_defaults(1)  # it needs a trained model
    assert set(compare_defaults(3)) == {m.name for m in REGISTRY.values() if m.beyond_1d and m.by_default}
    assert SWITCHED_METHODS == ("hybrid", "article")
    assert set(BENCH_METHODS) == {m.name for m in REGISTRY.values() if m.bench == "run"} | set(BENCH_VARIANTS)
    assert all(base in METHODS for base, _ in BENCH_VARIANTS.values()) and BENCH_METHODS[0] == "jacobi"


def test_comma_list_parses_checks_and_completes():
    methods = CommaList("method", ("jacobi", "dst"))
    assert methods.convert(" jacobi, dst,", None, None) == ("jacobi", "dst")
    for bad, message in (("jacobi,gauss", "unknown method 'gauss'"), (" , ", "no method given")):
        with pytest.raises(click.BadParameter, match=message):
            methods.convert(bad, None, None)
    switches = CommaList("switch point", item=switch_point, expected="integers or 'auto'")
    assert switches.convert("auto,12", None, None) == ("auto", 12)
    with pytest.raises(click.BadParameter, match="integers or 'auto'"):
        switches.convert("²", None, None)
    with pytest.raises(click.BadParameter, match="repeated"):
        CommaList("seed", distinct=True).convert("1,1", None, None)
    completions = methods.shell_complete(None, None, "jacobi,d")
    assert [c.value for c in completions] == ["jacobi,dst"]


def test_one_progress_line_for_every_command():
    """compare, bench and diagnose show their tasks through ProgressLine: forced start, whole-line outcome."""
    import io

    from poissonfp.cli.progress import ProgressLine, StepProgress

    stream = io.StringIO()
    line = ProgressLine("[1/2] jacobi", stream=stream)
    line.update("running", force=True)
    line.update("hidden by the delay")
    line.finish("0.5 s reached")
    assert stream.getvalue().splitlines()[0].startswith("[1/2] jacobi running")
    assert stream.getvalue().splitlines()[1] == "[1/2] jacobi 0.5 s reached" and "\r" not in stream.getvalue()
    steps = StepProgress(stream=stream)
    steps(("parity", 0), "parity (seed 0)", 10, 100)
    steps(("parity", 1), "parity (seed 1)", 5, 100)
    steps.close()
    assert [x.split(" 0.0s")[0] for x in stream.getvalue().splitlines()[2:]] == [
        "parity (seed 0) started", "parity (seed 0) 10/100", "parity (seed 1) started", "parity (seed 1) 5/100"]
    assert ProgressLine("quiet", quiet=True, stream=stream).finish("x") is None and "quiet" not in stream.getvalue()
