"""poissonfp: Poisson solvers pairing a DNN with Jacobi iteration, and F-Principle diagnostics.

Sign convention, used everywhere: -Δu = f in the box, u = g on its boundary.
"""
__version__ = "0.1.0"
