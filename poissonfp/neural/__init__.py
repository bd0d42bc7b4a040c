"""The neural solver: a boundary-exact network, Ritz / PINN losses, Adam -> L-BFGS training and an
exact Galerkin (least-squares) solve of the output layer, whose feature space also serves the hybrid
as the coarse space of a two-level correction."""
from poissonfp.neural.galerkin import GalerkinSpace, galerkin_output_layer
from poissonfp.neural.losses import GridLoss, QuadratureLoss, make_loss
from poissonfp.neural.model import BoundaryNet, build_model
from poissonfp.neural.training import Trainer, TrainingDivergence

__all__ = [
           "BoundaryNet",
           "GalerkinSpace",
           "GridLoss",
           "QuadratureLoss",
           "Trainer",
           "TrainingDivergence",
           "build_model",
           "galerkin_output_layer",
           "make_loss",
]
