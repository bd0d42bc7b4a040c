"""Verdict rules on error histories: settled crossings, ordering with a margin, times to halve.

An error history is an array ``(records, columns)`` with the step (epoch, sweep) of each record. Raw
histories of Adam training carry short spikes, so ordering rules read a running median over a window
that is a fixed fraction of the run (the same fraction in quick and full runs).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import median_filter

__all__ = [
    "ORDER_MARGIN",
    "SMOOTHING_FRACTION",
    "halving_steps",
    "ordered_with_margin",
    "ordering_rule",
    "settled_crossings",
    "smoothed",
]

#: A later crossing must come at least this many times later than the one before it.
ORDER_MARGIN = 1.5
#: Running-median window as a fraction of the number of records.
SMOOTHING_FRACTION = 0.05


def smoothed(errors: np.ndarray, fraction: float = SMOOTHING_FRACTION) -> np.ndarray:
    """Running median of each column over ``max(1, fraction * records)`` records (edges repeat).

    >>> smoothed(np.array([[1.0], [0.0], [5.0], [0.0], [0.0]]), fraction=0.6)[:, 0].tolist()
    [1.0, 1.0, 0.0, 0.0, 0.0]
    """
    errors = np.asarray(errors, dtype=float)
    window = max(1, int(fraction * len(errors)))
    return median_filter(errors, size=(window, 1), mode="nearest")


def settled_crossings(steps: np.ndarray, errors: np.ndarray, threshold: float) -> list[int | None]:
    """Per column: the first recorded step from which the error stays below ``threshold`` to the end
    (None when the last record is not below it).

    >>> settled_crossings(np.array([0, 10, 20, 30]), np.array([[1, 1], [0.05, 1], [0.2, 0.05], [0.05, 0.2]]), 0.1)
    [30, None]
    """
    steps, errors = np.asarray(steps), np.asarray(errors)
    crossings: list[int | None] = []
    for column in errors.T:
        above = np.flatnonzero(~(column < threshold))
        if len(above) == 0:
            crossings.append(int(steps[0]))
        elif above[-1] == len(column) - 1:
            crossings.append(None)
        else:
            crossings.append(int(steps[above[-1] + 1]))
    return crossings


def ordered_with_margin(crossings: Sequence[int | None], increasing: bool = True,
                        margin: float = ORDER_MARGIN) -> bool:
    """Whether every crossing exists and each is later than the previous by a factor ``margin``.

    With ``increasing=False`` the order is reversed (the last column must cross first).

    >>> ordered_with_margin([20, 200, 1200]), ordered_with_margin([180, 200, 1200]), ordered_with_margin([None, 5])
    (True, False, False)
    """
    times = [c for c in crossings if c is not None]
    if len(times) < len(crossings):
        return False
    times = times if increasing else times[::-1]
    return all(b > a and b >= margin * a for a, b in itertools.pairwise(times))


def ordering_rule(threshold: float, quantity: str = "Delta_F", direction: str = "increases with k") -> str:
    """The verdict rule of an ordering claim, in words."""
    return (f"settled crossing = first record from which the running median ({SMOOTHING_FRACTION:.0%} of the "
            f"records) of {quantity} stays below {threshold} to the end; it {direction}, each crossing at least "
            f"{ORDER_MARGIN}x the previous; must hold in every seed")


def halving_steps(steps: np.ndarray, errors: np.ndarray, reference: np.ndarray | None = None) -> list[int | None]:
    """Per column: the first step from which the smoothed error stays at or below half its reference (its
    first value unless ``reference`` gives one per column).

    >>> halving_steps(np.arange(4), np.array([[1.0], [0.6], [0.4], [0.3]]))
    [2]
    >>> errors = np.array([[2.0], [0.9], [0.6], [0.4]])
    >>> halving_steps(np.arange(4), errors), halving_steps(np.arange(4), errors, reference=np.ones(1))
    ([1], [3])
    """
    errors = smoothed(errors)
    reference = errors[0] if reference is None else np.asarray(reference, dtype=float)
    return [settled_crossings(steps, column[:, None], 0.5 * ref + 1e-300)[0] for column, ref in zip(errors.T, reference)]
