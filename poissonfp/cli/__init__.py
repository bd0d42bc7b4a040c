"""Command-line interface: ``poissonfp solve | compare | diagnose | bench | cases``.

The CLI is the only layer that prints, shows progress or reads files named on the command line;
each command is a thin wrapper over the library. Command modules import the numerical stack (numpy,
scipy, torch, numba, sympy) inside the command, so ``poissonfp --help`` starts in a fraction of a second.
"""
import click

from poissonfp import __version__
from poissonfp.cli.common import OneLineErrors


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="poissonfp")
@click.option("-v", "--verbose", count=True, help="Show the library's log: -v info, -vv debug.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              help="Log level of the poissonfp loggers (overrides -v).")
def main(verbose: int, log_level: str | None) -> None:
    """Solve -Δu = f with classical solvers and DNN-Jacobi hybrids, and test the F-Principle's claims."""
    from poissonfp.cli.common import configure_logging

    configure_logging(verbose, log_level)


# Each command lives in its own module and is registered here.
from poissonfp.cli.solve import solve  # noqa: E402

main.add_command(solve)
from poissonfp.cli.compare import compare  # noqa: E402

main.add_command(compare)
from poissonfp.cli.diagnose import diagnose  # noqa: E402

main.add_command(diagnose)
from poissonfp.cli.bench import bench  # noqa: E402

main.add_command(bench)
from poissonfp.cli.cases import cases  # noqa: E402

main.add_command(cases)
from poissonfp.cli.train import train  # noqa: E402

main.add_command(train)
