"""Blob upload sessions of the lab registry, as distribution's API runs them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from dtrlab.content import RegistryError, Upload, digest_of


class UploadsMixin:
    """Blob upload sessions (POST /v2/<name>/blobs/uploads/ ... PUT ?digest=) of the store."""

    _lock: threading.RLock
    _uploads: dict[str, Upload]

    # Provided by RegistryStore, which mixes this in.
    put_blob: Callable[[bytes], str]
    _relink: Callable[[str, str], None]

    def start_upload(self, full_name: str) -> str:
        """Open an upload session and return its UUID."""
        upload_id = str(uuid.uuid4())
        with self._lock:
            self._uploads[upload_id] = Upload(full_name)
        return upload_id

    def append_upload(self, full_name: str, upload_id: str, chunk: bytes) -> int:
        """Append a chunk; returns the bytes received so far."""
        with self._lock:
            upload = self._upload(full_name, upload_id)
            upload.data.extend(chunk)
            return len(upload.data)

    def upload_size(self, full_name: str, upload_id: str) -> int:
        """Bytes received so far by an upload session."""
        with self._lock:
            return len(self._upload(full_name, upload_id).data)

    def finish_upload(self, full_name: str, upload_id: str, chunk: bytes, digest: str) -> str:
        """Close an upload; the content must hash to `digest` (400 DIGEST_INVALID otherwise)."""
        with self._lock:
            upload = self._upload(full_name, upload_id)
            upload.data.extend(chunk)
            actual = digest_of(bytes(upload.data))
            if actual != digest:
                del self._uploads[upload_id]
                raise RegistryError(
                    400,
                    "DIGEST_INVALID",
                    f"provided digest {digest} did not match uploaded content {actual}",
                )
            del self._uploads[upload_id]
            final = self.put_blob(bytes(upload.data))
            self._relink(full_name, final)
            return final

    def cancel_upload(self, full_name: str, upload_id: str) -> None:
        """Drop an upload session."""
        with self._lock:
            self._upload(full_name, upload_id)
            del self._uploads[upload_id]

    def _upload(self, full_name: str, upload_id: str) -> Upload:
        upload = self._uploads.get(upload_id)
        if upload is None or upload.repository != full_name:
            raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", f"blob upload unknown: {upload_id}")
        return upload
