"""The neural solver: a boundary-exact network, Ritz / PINN losses, Adam -> L-BFGS training and an
exact Galerkin (least-squares) solve of the output layer, whose feature space also serves the hybrid
as the coarse space of a two-level correction.

The names are imported on first use: ``losses``, ``model`` and ``training`` import torch (1-3 s), which a
solve whose coarse space is classical (``--coarse polynomial|sine``) never needs; importing
``poissonfp.neural.galerkin`` or ``poissonfp.neural.bases`` does not load torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: public name -> the module that defines it
_EXPORTS = {
    "BoundaryNet": "poissonfp.neural.model", "build_model": "poissonfp.neural.model",
    "GalerkinSpace": "poissonfp.neural.galerkin", "galerkin_output_layer": "poissonfp.neural.galerkin",
    "GridLoss": "poissonfp.neural.losses", "QuadratureLoss": "poissonfp.neural.losses",
    "make_loss": "poissonfp.neural.losses",
    "Trainer": "poissonfp.neural.training", "TrainingDivergence": "poissonfp.neural.training",
}

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

if TYPE_CHECKING:
    from poissonfp.neural.galerkin import GalerkinSpace, galerkin_output_layer
    from poissonfp.neural.losses import GridLoss, QuadratureLoss, make_loss
    from poissonfp.neural.model import BoundaryNet, build_model
    from poissonfp.neural.training import Trainer, TrainingDivergence


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'poissonfp.neural' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
