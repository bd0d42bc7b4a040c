"""Operator networks trained once on a family of right-hand sides and reused across solves.

The sign convention is the package's: ``-Δu = f``, ``A`` the discrete (positive definite) operator.
A network ``N`` trained here approximates ``r -> A⁻¹ r`` for the residuals of one case's discrete operator;
by the F-Principle it is accurate on the low-frequency part of ``A⁻¹ r`` and poor on the high part, which
Jacobi sweeps remove (:mod:`poissonfp.solvers.hybrids.operator`).

Modules: :mod:`~poissonfp.learned.family` (right-hand sides), :mod:`~poissonfp.learned.architectures`
(U-Net, FNO), :mod:`~poissonfp.learned.training` (energy-norm training), :mod:`~poissonfp.learned.store`
(model folders and :class:`~poissonfp.learned.store.OperatorModel`).
"""
