"""Studies that run many solves and compare them: ``compare`` (every method on one problem, the switch
study) and ``bench`` (time to accuracy over problems and sizes). Each study module computes; its
``*_outputs`` / ``*_report`` module writes what it leaves on disk; its figures live in :mod:`poissonfp.plotting`."""
