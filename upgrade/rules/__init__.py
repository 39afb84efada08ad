"""The upgrade's rules, free of I/O: DTR versions, which upgrades the guide allows, the release
catalogue and its file, the planner that picks the hops and the bootstrapper image, and the
session's verdict."""
