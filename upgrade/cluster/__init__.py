"""The cluster under test and what the checks read from it: the site (a real DTR or the
built-in lab, the one place that knows which), the target, health, inventory and baseline,
backups, containers, images, nodes, jobs, the vulnerability database, the canary round trip
and the data-plane proof (what a pull meets, through `/v2/`)."""
