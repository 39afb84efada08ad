"""Reading credentials off a request: HTTP basic and bearer tokens."""

from __future__ import annotations

import base64
import binascii

from dtrlab.listener import Request


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, secret) from an Authorization: Basic header, or None."""
    header = request.header("Authorization") or ""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, secret = decoded.partition(":")
    return (username, secret) if sep else None


def bearer_token(request: Request) -> str | None:
    """The token of an Authorization: Bearer header, or None."""
    header = request.header("Authorization") or ""
    return header[7:].strip() if header.lower().startswith("bearer ") else None
