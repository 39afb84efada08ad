"""DTR upgrade verification harness: upgrade rules, API clients, executor, prober, evidence.

PYTEST_DONT_REWRITE: the library is plain Python (its asserts are internal invariants, not
checks), and it is imported before pytest could rewrite it when loaded as the pytest11 plugin.
"""

__version__ = "0.1.0"
