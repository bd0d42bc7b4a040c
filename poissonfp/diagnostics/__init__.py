"""F-Principle diagnostics: one module per experiment, the registry in :mod:`.base`, the suite in :mod:`.suite`.

Run them with ``poissonfp diagnose`` or :func:`poissonfp.diagnostics.suite.run_suite`.
"""
