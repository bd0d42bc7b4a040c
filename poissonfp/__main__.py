"""``python -m poissonfp``: the command line, as the ``poissonfp`` script runs it."""
from poissonfp.cli import run

if __name__ == "__main__":
    run()
