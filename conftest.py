"""Root conftest: marks the project's root for pytest (rootdir, `checks/` as testpaths).

The harness plugin is not registered here: the installed package registers it through its
`pytest11` entry point (pyproject.toml), so its options are known before pytest parses the
command line, whichever directory pytest is started from.
"""
