"""``--backend petsc``: poissonfp's problems solved on PETSc over MPI (``mpirun -n P poissonfp solve ...``).

The case's grid becomes a PETSc DMDA distributed over the ranks; each rank evaluates the case's data
and assembles the rows of its own block (:mod:`.assembly`), PETSc's Krylov methods and preconditioners
solve (:mod:`.krylov`), and rank 0 writes the usual output set (:mod:`.command`). petsc4py and mpi4py
are imported only inside functions: nothing else in poissonfp needs them, and this module answers
whether they are installed without importing them.
"""
from __future__ import annotations

import importlib.util
import os

__all__ = [
    "BACKENDS",
    "INSTALL_HINT",
    "PETSC_METHODS",
    "PRECONDITIONERS",
    "launcher_rank",
    "launcher_size",
    "missing_stack",
]

#: ``solve --backend`` choices: ``local`` (one process, poissonfp's own solvers) or ``petsc``.
BACKENDS = ("local", "petsc")
#: The methods ``--backend petsc`` runs, with what each is on PETSc.
PETSC_METHODS = {
    "jacobi": "Richardson iteration with PCJACOBI, damped by the case's omega (the baseline)",
    "multigrid": "CG with PCMG on the DMDA hierarchy (Galerkin coarse operators), or --pc hypre|gamg",
    "direct": "a sparse LU (PETSc's own on one rank; MUMPS on several when PETSc has it)",
    "hybrid": "V-cycles of PCMG with ω-Jacobi smoothing whose coarsest level is solved by poissonfp's coarse "
              "space (the network's Galerkin space, or --model DIR) on the gathered coarse grid",
}
#: ``--pc`` choices for ``multigrid``: geometric (PCMG on the DMDA hierarchy) or algebraic.
PRECONDITIONERS = ("mg", "hypre", "gamg")

INSTALL_HINT = ("--backend petsc needs petsc4py and mpi4py, which pip alone cannot install (no petsc4py wheel; "
                "it builds against a system PETSc): run `make mpi` (README, section MPI / PETSc)")


def missing_stack() -> str | None:
    """None when petsc4py and mpi4py can be imported, else the one line that says how to install them."""
    missing = [name for name in ("mpi4py", "petsc4py") if importlib.util.find_spec(name) is None]
    return f"{INSTALL_HINT}; missing: {', '.join(missing)}" if missing else None


def launcher_size() -> int:
    """The number of ranks mpirun / mpiexec started, read from the launcher's environment (1 without one):
    known without importing MPI, so a plain run can refuse a multi-rank launch."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def launcher_rank() -> int:
    """This process's rank as the launcher's environment tells it (0 without a launcher)."""
    for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0
