"""The lab: a simulated DTR + UCP cluster on loopback with real TLS and named fault scenarios."""
