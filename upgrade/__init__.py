"""DTR upgrade verification harness: the upgrade rules, API clients, executor, prober and evidence."""

__version__ = "0.1.0"
