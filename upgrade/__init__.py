"""DTR upgrade verification harness: upgrade rules, API clients, executor, prober, evidence."""

__version__ = "0.1.0"
