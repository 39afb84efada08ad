"""What the operator asked for: the option table, the parsers of option values, the checks on
the files options name (paths), the frozen `Settings` resolved once from the command line, the
environment and the ini file, and the waiver files."""
