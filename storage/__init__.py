"""Documents in S3-compatible storage."""

from .client import make_client
from .documents import CHUNK, Documents, ObjectMissing, StorageUnavailable

__all__ = ["CHUNK", "Documents", "ObjectMissing", "StorageUnavailable", "make_client"]
