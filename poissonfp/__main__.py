"""``python -m poissonfp`` and the ``poissonfp`` script: the command line.

:func:`run` takes over SIGINT and SIGTERM as its very first step, before it imports the command line:
a signal while modules load (torch, numba, sympy take seconds) ends in one line and exit status 130 /
143, never a traceback, and never silence. A process started in the background by a non-interactive
shell (``cmd &``, ``nohup``) inherits SIGINT *ignored*; the commands' own guard handles SIGINT later in
any case, so :func:`run` handles it from the start too instead of losing a Ctrl-C (or ``kill -INT``)
sent in the first seconds.
"""
import signal
import sys

__all__ = ["run"]

EXIT_INTERRUPTED = 130
_EXIT_CODES: dict[int, int] = {signal.SIGINT: 128 + signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}


def run() -> None:
    """Run the ``poissonfp`` command group (:func:`poissonfp.cli.main`)."""
    received: list[int] = []

    def first_signal(number: int, _frame) -> None:
        if not received:
            received.append(number)
            raise KeyboardInterrupt

    previous = {number: signal.signal(number, first_signal) for number in _EXIT_CODES}
    try:
        from poissonfp.cli import main

        main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(_EXIT_CODES[received[0]] if received else EXIT_INTERRUPTED)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    run()
