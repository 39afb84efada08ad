"""Root conftest: loads the harness plugin so `pytest --target=...` and `pytest tests` both see it."""

pytest_plugins = ["upgrade.plugin"]
