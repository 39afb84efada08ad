"""Talking to the product: the HTTP transport with bounded retries and verified TLS, the JSON
reader, and the DTR, UCP/MKE and registry (`/v2/`) clients; TLS inspection and the secrets
that come only from the environment."""
