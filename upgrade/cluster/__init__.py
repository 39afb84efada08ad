"""The cluster under test and what the checks read from it: the target (a real DTR or the
built-in lab), health, inventory and baseline, backups, containers, images, nodes, jobs, the
vulnerability database and the canary round trip."""
