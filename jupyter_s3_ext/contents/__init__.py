"""S3 in the Jupyter file browser: `S3MountContentsManager` mounts S3 locations in an `s3/` folder beside home."""

from .manager import S3MountContentsManager

__all__ = ["S3MountContentsManager"]
