"""Classical iterations and the reference solvers: weighted Jacobi (stencil, CSR, torch), its
compiled kernels, schedule and price; sparse direct, sine transform and algebraic multigrid."""
