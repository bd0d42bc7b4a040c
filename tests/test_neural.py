"""The neural solver: boundary-exact network, losses, training, Galerkin output layer, method ``dnn``."""
import logging
import math

import numpy as np
import pytest
import torch

from poissonfp.expressions import parse_expression
from poissonfp.grid import Grid
from poissonfp.neural.galerkin import GalerkinSpace, _stiffness, apply_laplacian_columns, galerkin_output_layer
from poissonfp.neural.losses import GridLoss, QuadratureLoss, make_loss
from poissonfp.neural.model import build_model
from poissonfp.operators import fold_boundary, laplacian_matrix
from poissonfp.problem import Problem
from poissonfp.settings import NetworkSettings, TrainingSettings
from poissonfp.solvers import DivergenceError, StoppingCriterion, solve


def expression_problem(n, exact, variables=("x",), lower=(0.0,), upper=(1.0,), boundary="0"):
    """A problem with expression functions (like a case), so quadrature and lifting are available."""
    u = parse_expression(exact, variables)
    f = u.negative_laplacian()
    g = parse_expression(boundary, variables)
    grid = Grid(lower, upper, (n,) * len(variables))
    coords = grid.coordinates()
    source = np.broadcast_to(f.numpy(*coords), grid.shape).astype(float)
    rhs = fold_boundary(grid, source, g.numpy)
    exact_values = np.broadcast_to(u.numpy(*coords), grid.shape).astype(float)
    return Problem(grid, source, rhs, exact_values, "test", {"source": f, "boundary": g, "exact": u})


def sine_problem(n=63, modes=(1,)):
    grid = Grid((0.0,), (1.0,), (n,))
    return Problem.from_functions(
        grid, lambda x: sum((k * np.pi) ** 2 * np.sin(k * np.pi * x) for k in modes),
        exact=lambda x: sum(np.sin(k * np.pi * x) for k in modes))


def test_model_is_boundary_exact_seeded_and_features_match_torch():
    problem = expression_problem(15, "sin(pi*x)*sin(pi*y) + x*y", ("x", "y"), (0.0, 0.0), (1.0, 2.0), "x*y")
    net = NetworkSettings(widths=(8, 6), scale=2.0)
    model = build_model(problem, net, seed=3)
    again = build_model(problem, net, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    edge = torch.tensor([[0.0, 0.5], [1.0, 1.3], [0.2, 0.0], [0.7, 2.0]], dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(edge)[:, 0], edge[:, 0] * edge[:, 1], atol=1e-14)  # u = g on the boundary
    points = model.grid_points(problem.grid)
    with torch.no_grad():
        reference = model.features(points).numpy()
    assert np.allclose(model.grid_features(problem.grid, points), reference, rtol=0, atol=1e-13)
    single = build_model(problem, NetworkSettings(widths=(10,), scale=3.0), seed=1)  # tanh addition formula path
    with torch.no_grad():
        reference = single.features(points).numpy()
    assert np.allclose(single.grid_features(problem.grid, points), reference, rtol=0, atol=1e-13)


@pytest.mark.parametrize("shape", [(7,), (5, 6), (3, 4, 5)])
def test_laplacian_columns_matches_sparse_matrix(shape, rng):
    grid = Grid((0.0,) * len(shape), (1.0, 2.0, 0.5)[: len(shape)], shape)
    columns = rng.standard_normal((grid.size, 4))
    assert np.allclose(apply_laplacian_columns(grid, columns), laplacian_matrix(grid) @ columns, rtol=1e-13)


def test_ritz_energy_on_the_grid_equals_the_analytic_value():
    # u = sin(pi x), f = pi^2 sin(pi x) on (0, 1): E = 1/2 int u'^2 - int f u = pi^2/4 - pi^2/2 = -pi^2/4
    problem = sine_problem(199)
    model = build_model(problem, NetworkSettings(widths=(4,)))
    loss = GridLoss(problem, model, "ritz")
    u = torch.as_tensor(np.sin(np.pi * problem.grid.axes[0]))
    energy = float(loss.energy_of_values(u))
    assert energy == pytest.approx(-math.pi**2 / 4, rel=1e-4)
    assert float(GridLoss(problem, model, "pinn").energy_of_values(u)) < 1e-3  # residual O(h^2)


def test_quadrature_loss_agrees_with_the_grid_or_falls_back(caplog):
    problem = expression_problem(63, "sin(pi*x)")
    smooth = build_model(problem, NetworkSettings(widths=(8,)), seed=0)
    loss = make_loss(problem, smooth, "ritz", "quadrature", order=3)
    assert isinstance(loss, QuadratureLoss)
    agree, quadrature, grid = loss.check()
    assert agree and quadrature == pytest.approx(grid, rel=1e-2)
    assert math.isfinite(float(make_loss(problem, smooth, "pinn", "quadrature", order=3)()[0].detach()))
    rough = build_model(problem, NetworkSettings(widths=(8,), scale=400.0), seed=0)
    with torch.no_grad():
        rough.output_layer.weight.mul_(100.0)
    with caplog.at_level(logging.WARNING):
        fallback = make_loss(problem, rough, "ritz", "quadrature", order=1)
    assert isinstance(fallback, GridLoss)
    assert "does not resolve the network" in caplog.text


def test_galerkin_is_exact_when_the_solution_is_in_the_space(rng):
    grid = Grid((0.0, 0.0), (1.0, 1.0), (20, 24))
    x, y = grid.coordinates()
    problem = Problem.from_functions(grid, lambda x, y: 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y))
    mode = np.broadcast_to(np.sin(np.pi * x) * np.sin(np.pi * y), grid.shape).ravel()
    features = np.column_stack([mode, rng.standard_normal((grid.size, 5)), 2 * mode])  # dependent column
    space = GalerkinSpace(grid, features)
    assert space.rank == 6
    u = space.correction(problem.rhs)
    assert np.allclose(u, problem.discrete_solution, rtol=0, atol=1e-11)


def test_galerkin_output_layer_sets_the_network():
    problem = sine_problem(63, (1, 3))
    model = build_model(problem, NetworkSettings(widths=(24,), scale=3.0), seed=0)
    space, values = galerkin_output_layer(model, problem)
    assert np.allclose(model.grid_values(problem.grid), values, atol=1e-12)
    error = np.linalg.norm(values - problem.discrete_solution) / np.linalg.norm(problem.discrete_solution)
    assert error < 1e-4 and space.rank <= space.size


def test_dnn_alone_trains_to_one_percent():
    problem = sine_problem(63, (1, 3))
    result = solve(problem, "dnn", StoppingCriterion("discrete", tol=1e-2), seed=0,
                   network=NetworkSettings(widths=(32, 32)),
                   training=TrainingSettings(adam_steps=300, learning_rate=1e-2, lbfgs_steps=20, galerkin=False))
    assert result.final["error_vs_discrete_rel_l2"] < 1e-2
    assert result.converged and result.dnn_steps > 0
    assert result.info["best_metric"] <= result.final["error_vs_discrete_rel_l2"]
    assert set(result.history["dnn_steps"]) != {0}


def test_dnn_with_galerkin_and_lbfgs_reports_honestly():
    problem = sine_problem(63, (1, 3))
    result = solve(problem, "dnn", StoppingCriterion("discrete", tol=1e-12), seed=1,
                   network=NetworkSettings(widths=(16,)),
                   training=TrainingSettings(adam_steps=20, lbfgs_steps=10))
    assert result.stop_reason == "max_iterations" and not result.converged
    assert result.dnn_steps == 30 and result.info["lbfgs_steps"] == 10
    assert result.info["best_metric"] <= result.final["error_vs_discrete_rel_l2"] < 1e-3
    assert len(result.info["loss_history"]["loss"]) > 0


def test_training_converges_low_modes_before_high_modes():
    """F-Principle: the first step at which a peak's relative error drops below 0.1 grows with frequency."""
    modes = (1, 3, 5)
    problem = sine_problem(63, modes)
    result = solve(problem, "dnn", StoppingCriterion("discrete", tol=1e-12), modes=[(k,) for k in modes], seed=0,
                   network=NetworkSettings(widths=(32, 32)),
                   training=TrainingSettings(adam_steps=600, learning_rate=1e-3, galerkin=False))
    errors = np.array(result.modes["relative_error"])
    steps = np.array(result.history["dnn_steps"])
    first = [int(steps[np.argmax(errors[:, j] < 0.1)]) for j in range(3)]
    assert all((errors[:, j] < 0.1).any() for j in range(3)), first
    assert first[0] < first[1] < first[2], first


def test_absurd_learning_rate_raises_a_one_line_divergence_error():
    problem = sine_problem(31)
    with pytest.raises(DivergenceError) as caught:
        solve(problem, "dnn", StoppingCriterion("discrete"), network=NetworkSettings(widths=(8,)),
              training=TrainingSettings(adam_steps=50, learning_rate=1e6, galerkin=False))
    message = str(caught.value)
    assert "diverged" in message and "\n" not in message


def test_training_falls_back_to_the_grid_when_the_quadrature_stops_resolving(caplog):
    from poissonfp.neural.training import Trainer

    problem = expression_problem(63, "sin(pi*x)")
    model = build_model(problem, NetworkSettings(widths=(8,)), seed=0)
    loss = make_loss(problem, model, "ritz", "quadrature", order=2)
    assert isinstance(loss, QuadratureLoss)
    with torch.no_grad():  # make the network far too oscillatory for 2 points per cell
        model.body[0].weight.mul_(400.0)
        model.body[0].bias.mul_(400.0)
        model.output_layer.weight.mul_(100.0)
    trainer = Trainer(model, loss, learning_rate=1e-4, guard_every=1)
    with caplog.at_level(logging.WARNING):
        trainer.adam(3)
    assert isinstance(trainer.loss, GridLoss) and trainer.fallback_step == 1
    assert "no longer resolves" in caplog.text


@pytest.mark.parametrize("shape", [(7,), (9, 5), (6, 4, 5)])
def test_stiffness_in_slabs_equals_the_whole_product(shape):
    grid = Grid((0.0,) * len(shape), (1.0, 2.0, 3.0)[: len(shape)], shape)
    phi = np.random.default_rng(0).standard_normal((grid.size, 4))
    whole = phi.T @ apply_laplacian_columns(grid, phi)
    for rows in (1, 2, 3, 0):
        np.testing.assert_allclose(_stiffness(grid, phi, rows), 0.5 * (whole + whole.T), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("case_name", ["2d_lshape", "2d_square"])
def test_seeded_features_are_the_networks(case_name):
    """The untrained network's features drawn without torch modules (:func:`seeded_layers`) are the built
    network's to the bit: every numpy activation, one and two hidden layers, a first-layer scale, the domain's
    factor off the box, and a coarse grid whose box is not the problem's (the network's box is the problem's);
    float32 and an activation without a numpy form fall back (None)."""
    import dataclasses

    from poissonfp.case import load_case
    from poissonfp.neural.model import seeded_features, seeded_layers
    from poissonfp.problem import build_problem

    problem = build_problem(load_case(case_name), 15)
    g = problem.grid
    coarse = Grid(tuple(a + 0.013 for a in g.lower), tuple(b - 0.02 for b in g.upper), (7, 5))
    base = NetworkSettings(widths=(8, 6))
    for network in (base, dataclasses.replace(base, widths=(9,), activation="sin", scale=3.7),
                    dataclasses.replace(base, activation="relu"), dataclasses.replace(base, scale=30.0)):
        for grid in (g, coarse):
            expected = build_model(problem, network, seed=2).grid_features(grid)
            mine = seeded_features(problem, network, seeded_layers(network, 2, g.ndim), grid)
            assert mine.shape == expected.shape and mine.tobytes() == expected.tobytes()
    assert seeded_layers(dataclasses.replace(base, dtype="float32"), 0, 2) is None
    assert seeded_layers(dataclasses.replace(base, activation="gelu"), 0, 2) is None
