"""Every figure of the package: data in, matplotlib Figure out, nothing computed here.

:mod:`~poissonfp.plotting.solution` (one solve: the field, convergence, per-mode errors),
:mod:`~poissonfp.plotting.compare` (a comparison), :mod:`~poissonfp.plotting.bench` (the benchmark) and
:mod:`~poissonfp.plotting.diagnostics` (the F-Principle experiments). Functions that draw one panel take
``ax=`` to draw on axes a caller made.
"""
