"""Running the upgrade: the bootstrapper request and its executors (the docker SDK, or the
lab's bootstrapper process), the resumable procedure and its record, the session's upgrade
with its log, the availability prober and its outage maths, and the lock that allows one
upgrade at a time."""
