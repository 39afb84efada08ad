"""Root conftest: loads the harness plugin for `pytest --target=...` and for `pytest tests`."""

pytest_plugins = ["upgrade.plugin"]
