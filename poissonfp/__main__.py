"""``python -m poissonfp`` and the ``poissonfp`` script: the command line.

:func:`run` imports the command line inside its guard, so that a Ctrl-C while modules load ends in
one line and exit status 130 instead of a traceback.
"""
import sys

__all__ = ["run"]

EXIT_INTERRUPTED = 130


def run() -> None:
    """Run the ``poissonfp`` command group (:func:`poissonfp.cli.main`)."""
    try:
        from poissonfp.cli import main

        main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    run()
