"""Running the upgrade: the bootstrapper request and its executors (the docker SDK, or the
lab's bootstrapper process), the resumable procedure and its record, the session's upgrade
with its log and availability prober, and the lock that allows one upgrade at a time."""
