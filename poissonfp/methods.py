"""The method registry: every solution method once, with what each command needs to know about it.

Pure data (no solver is imported here): the solver registry (:data:`poissonfp.solvers.SOLVERS`), the
``--method`` choices and the case loader's allowed values (:data:`METHODS`), ``compare``'s default list
(:func:`compare_defaults`) and ``bench``'s list (:data:`BENCH_METHODS`, :data:`BENCH_OPTIONAL`) all derive
from :data:`REGISTRY`. Adding a method is one entry here plus its solver function.

>>> METHODS
('jacobi', 'dnn', 'hybrid', 'article', 'operator', 'multigrid', 'dst', 'direct')
>>> compare_defaults(2)
('jacobi', 'hybrid', 'multigrid', 'dst', 'direct')
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALONE_1D_ONLY",
    "BENCH_METHODS",
    "BENCH_OPTIONAL",
    "BENCH_VARIANTS",
    "COARSE_SPACES",
    "DEVICES",
    "METHODS",
    "REGISTRY",
    "SWITCHED_METHODS",
    "BenchVariant",
    "Method",
    "compare_defaults",
    "iteration_unit",
]

#: Where the neural methods (and the torch solvers) run (``[training] device``, ``--device``).
DEVICES = ("cpu", "cuda")
#: Coarse spaces of the hybrid's two-level cycle (``[hybrid] coarse``, ``--coarse``).
COARSE_SPACES = ("network", "polynomial", "sine")


@dataclass(frozen=True)
class BenchVariant:
    """A benchmark control: a registered method run with some hybrid settings changed."""

    name: str
    hybrid: dict[str, Any]


@dataclass(frozen=True)
class Method:
    """One solution method.

    Attributes:
        name: The name used in case files and on the command line.
        solver: ``"module:function"`` of its solver (imported on first use).
        summary: One line for listings.
        beyond_1d: Whether ``compare`` runs it by default in 2D and 3D (the DNN alone cannot reach a
            discretization-level criterion there, and the article's scheme repeats pure Jacobi's long run
            after its training).
        switched: Whether it hands over from a network to a classical iteration after ``switch`` steps
            (``compare --switch`` runs it once per switch point).
        bench: ``"run"`` (benchmarked by default), ``"optional"`` (only when named) or ``"never"``.
        iteration_unit: What one of its result's ``iterations`` is (plural; empty when it reports none).
        variants: Benchmark controls derived from it.
        by_default: Whether ``compare`` runs it when no method is named (False: it needs a trained model).
    """

    name: str
    solver: str
    summary: str
    beyond_1d: bool = True
    switched: bool = False
    bench: str = "run"
    iteration_unit: str = "sweeps"
    variants: tuple[BenchVariant, ...] = field(default=())
    by_default: bool = True


#: Every method, in the order ``compare`` runs them: the baseline first, then the neural ones, then the
#: references.
REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("jacobi", "poissonfp.solvers.classical.jacobi:solve_jacobi", "weighted Jacobi sweeps (the baseline)"),
    Method("dnn", "poissonfp.solvers.hybrids.neural:solve_dnn", "the network alone (Ritz or least-squares loss)",
           beyond_1d=False, iteration_unit=""),
    Method("hybrid", "poissonfp.solvers.hybrids.hybrid:solve_hybrid",
           "network guess, then multilevel cycles (default; [hybrid] cycle = 'two-level': Galerkin correction)", switched=True,
           variants=(BenchVariant("hybrid-exact", {"coarsest": "exact"}),
                     BenchVariant("hybrid-none", {"coarsest": "smoothing"}))),
    Method("article", "poissonfp.solvers.hybrids.article:solve_article", "the article's scheme: network, then plain Jacobi",
           beyond_1d=False, switched=True, bench="optional"),
    Method("operator", "poissonfp.solvers.hybrids.operator:solve_operator",
           "Jacobi sweeps alternating with a trained operator network's corrections (needs --model)",
           bench="never", by_default=False),
    Method("multigrid", "poissonfp.solvers.classical.reference:solve_multigrid", "algebraic multigrid V-cycles (reference)",
           iteration_unit="V-cycles"),
    Method("dst", "poissonfp.solvers.classical.reference:solve_dst", "fast sine transform (exact, reference)",
           iteration_unit="solves"),
    Method("direct", "poissonfp.solvers.classical.reference:solve_direct", "sparse direct solve (exact, reference)",
           iteration_unit="solves"),
)}

#: Every method's name.
METHODS: tuple[str, ...] = tuple(REGISTRY)
#: Methods with a network-to-classical switch.
SWITCHED_METHODS: tuple[str, ...] = tuple(m.name for m in REGISTRY.values() if m.switched)
#: Methods ``compare`` runs by default in 1D only.
ALONE_1D_ONLY: tuple[str, ...] = tuple(m.name for m in REGISTRY.values() if not m.beyond_1d)
#: Benchmark controls: name -> (registered method, hybrid settings changed).
BENCH_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    v.name: (m.name, v.hybrid) for m in REGISTRY.values() for v in m.variants}
#: Methods and controls ``bench`` runs by default, baseline first.
BENCH_METHODS: tuple[str, ...] = tuple(
    name for m in REGISTRY.values() if m.bench == "run" for name in (m.name, *(v.name for v in m.variants)))
#: Methods ``bench`` runs only when named.
BENCH_OPTIONAL: tuple[str, ...] = tuple(m.name for m in REGISTRY.values() if m.bench == "optional")


def iteration_unit(method: str, info: dict[str, Any]) -> str:
    """What one of the ``iterations`` of ``method``'s result (with ``info``) is: the multilevel hybrid counts
    cycles, unless its fallback chose plain Jacobi sweeps."""
    if method == "hybrid" and info.get("cycles", 0) > 0:
        return "cycles"
    return REGISTRY[method].iteration_unit if method in REGISTRY else ""


def compare_defaults(ndim: int) -> tuple[str, ...]:
    """The methods ``compare`` runs when none are named, in ``ndim`` dimensions."""
    return tuple(m.name for m in REGISTRY.values() if m.by_default and (ndim == 1 or m.beyond_1d))
