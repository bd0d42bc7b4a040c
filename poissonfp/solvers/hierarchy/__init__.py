"""The multigrid hierarchies of the multilevel hybrid: the box's rediscretised one and the Galerkin
one of every other operator, with their compiled kernels."""
