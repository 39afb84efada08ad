"""What a session leaves behind: typed check and session records, the bundle folder and its
sealing (redaction, SHA256SUMS, signature), the comparison with earlier bundles and the
availability chart."""
