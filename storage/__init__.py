"""Documents in S3-compatible storage."""

from .client import make_client
from .documents import CHUNK, Documents, ObjectMissing, PresignedPost, StorageUnavailable
from .filetypes import ALLOWED_EXTENSIONS, MIME_TYPES, Verdict, check_signature, safe_filename

__all__ = [
    "ALLOWED_EXTENSIONS",
    "CHUNK",
    "MIME_TYPES",
    "Documents",
    "ObjectMissing",
    "PresignedPost",
    "StorageUnavailable",
    "Verdict",
    "check_signature",
    "make_client",
    "safe_filename",
]
