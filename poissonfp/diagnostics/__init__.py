"""F-Principle diagnostics: one module per experiment, the registry and claims in :mod:`.base`, settings
rules in :mod:`.rules`, verdict rules in :mod:`.ordering`, the control learners in :mod:`.learners`, the
suite in :mod:`.suite` and its Markdown report in :mod:`.report`.

Run them with ``poissonfp diagnose`` or :func:`poissonfp.diagnostics.suite.run_suite`.
"""
