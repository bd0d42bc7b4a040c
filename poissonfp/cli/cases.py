"""``poissonfp cases``: list the shipped cases (name and the first sentence of the description)."""
from __future__ import annotations

import click

__all__ = ["cases"]


@click.command()
def cases() -> None:
    """List the shipped cases; give a name to solve, compare or bench (e.g. ``poissonfp solve 2d_square``)."""
    from poissonfp.catalog import case_summary, shipped_cases

    shipped = shipped_cases()
    width = max((len(name) for name in shipped), default=0)
    for name, path in shipped.items():
        click.echo(f"{name:<{width}}  {case_summary(path)}")
