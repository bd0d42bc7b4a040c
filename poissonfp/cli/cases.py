"""``poissonfp cases [NAME]``: list the shipped cases (name and the first sentence of the description), or
show one case file whole."""
from __future__ import annotations

import click

__all__ = ["cases"]


@click.command()
@click.argument("name", required=False)
def cases(name: str | None) -> None:
    """List the shipped cases; give a name to solve, compare or bench (e.g. ``poissonfp solve 2d_square``).
    With NAME (a shipped case's name or a case file), print that case: its file and its TOML text."""
    from poissonfp.catalog import case_summary, shipped_cases

    if name is not None:
        from poissonfp.case import CaseError, load_case

        try:
            case = load_case(name)  # validated: a bad name or file is one line and exit 2
        except CaseError as err:
            click.echo(f"error: {err}", err=True)
            raise click.exceptions.Exit(2) from None
        click.echo(f"# {case.path}")
        click.echo(case.text.rstrip("\n"))
        return
    shipped = shipped_cases()
    width = max((len(case_name) for case_name in shipped), default=0)
    for case_name, path in shipped.items():
        click.echo(f"{case_name:<{width}}  {case_summary(path)}")
