"""URLs and member names: the one place where a name that could leave a store is refused.

A node is addressed by a :class:`Location` (the store root: scheme + path) plus a
relative key path inside it. Member names are validated by
:func:`validate_member_name` before any I/O happens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

#: Schemes a URL may use. ``file`` also covers plain local paths.
SCHEMES = ("file", "memory", "s3", "gs", "gcs", "http", "https")
#: Key names that hold Zarr metadata: a member may not be called like this.
METADATA_KEYS = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})
#: Prefix of unizarr's own documents inside a group (e.g. the pyramid-run record): never
#: members, and refused as member names.
INTERNAL_PREFIX = ".unizarr"


def is_internal_name(name: str) -> bool:
    """Whether ``name`` is one of unizarr's own documents (never a Zarr member)."""
    return name.startswith(INTERNAL_PREFIX)


@dataclass(frozen=True)
class Location:
    """Where a store root lives.

    Attributes
    ----------
    scheme : str
        ``"file"``, ``"memory"``, ``"s3"``, ``"gs"``, ``"http"`` or ``"https"``.
    path : str
        For ``file``: an absolute local path. Otherwise the part after ``scheme://``
        without a trailing slash (``bucket/prefix`` for object stores).
    """

    scheme: str
    path: str

    @property
    def url(self) -> str:
        """The location as a user would write it (a plain path for local files)."""
        return self.path if self.scheme == "file" else f"{self.scheme}://{self.path}"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    @property
    def read_only_scheme(self) -> bool:
        """``http(s)`` stores cannot be written."""
        return self.scheme in ("http", "https")

    def join(self, key: str) -> Location:
        """The location of ``key`` below this one (``key`` already validated)."""
        if not key:
            return self
        if self.scheme == "file":
            return Location("file", os.path.join(self.path, *key.split("/")))
        return Location(self.scheme, f"{self.path}/{key}" if self.path else key)


def parse_url(url: Any) -> Location:
    """Parse a local path, ``os.PathLike`` or URL into a :class:`Location`.

    Raises
    ------
    ValueError
        Unknown scheme or an empty URL.
    """
    if isinstance(url, Location):
        return url
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise ValueError(f"expected a path or URL string, got {url!r}")
    if "://" in url:
        scheme, rest = url.split("://", 1)
        scheme = scheme.lower()
        if scheme not in SCHEMES:
            raise ValueError(f"unsupported URL scheme {scheme!r}; use one of {SCHEMES}")
        if scheme == "file":
            url = rest
        else:
            if scheme == "gcs":
                scheme = "gs"
            return Location(scheme, rest.strip("/"))
    return Location("file", os.path.abspath(os.path.expanduser(url)))


#: Longest member name segment (bytes of UTF-8): the file-name limit of local file
#: systems (ext4, XFS, APFS, NTFS in UTF-16 units).
MAX_SEGMENT_BYTES = 255


def validate_member_name(name: Any) -> str:
    """Check a member name and return it normalised (``"a/b/c"``).

    A name may be nested with ``/``; each segment must be non-empty, not ``.`` or ``..``,
    and not a Zarr metadata key. Absolute names, backslashes and NUL characters are
    refused, so no name can reach outside the group it is used on.

    Raises
    ------
    TypeError
        ``name`` is not a string.
    ValueError
        The name is empty, could leave the group, or has a segment longer than
        :data:`MAX_SEGMENT_BYTES`.
    """
    if not isinstance(name, str):
        raise TypeError(f"member names are strings, got {type(name).__name__}: {name!r}")
    if not name:
        raise ValueError("member name must not be empty")
    if "\x00" in name:
        raise ValueError(f"member name {name!r} contains a NUL character")
    if "\\" in name:
        raise ValueError(f"member name {name!r} contains a backslash; separate levels with '/'")
    drive = len(name) >= 2 and name[0].isalpha() and name[1] == ":" and name[2:3] in ("", "/")
    if name.startswith("/") or drive:
        raise ValueError(f"member name {name!r} is absolute; use a name relative to the group")
    segments = name.split("/")
    for seg in segments:
        if seg in ("", ".", ".."):
            raise ValueError(
                f"member name {name!r} has an empty, '.' or '..' segment; names must stay "
                "inside the group"
            )
        if seg in METADATA_KEYS:
            raise ValueError(f"member name {name!r} uses the reserved Zarr key {seg!r}")
        if seg.startswith(INTERNAL_PREFIX):
            raise ValueError(
                f"member name {name!r}: names starting with {INTERNAL_PREFIX!r} are "
                "reserved for unizarr's own documents; choose another name"
            )
        if len(seg.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            # Local file systems refuse longer file names (ENAMETOOLONG): refused on
            # every store, so a name that works on S3 also works on disk.
            raise ValueError(
                f"member name segment {seg[:20]!r}... is {len(seg.encode('utf-8', 'surrogatepass'))} "
                f"bytes in UTF-8; at most {MAX_SEGMENT_BYTES} are allowed (file systems "
                "refuse longer names)"
            )
        if seg.endswith(".__lock"):
            # TensorStore's file kvstore reserves these names for its atomic writes
            # (and refuses them as keys): refused on every driver, so both agree.
            raise ValueError(f"member name {name!r} ends with the reserved suffix '.__lock'")
    return "/".join(segments)


def join_key(prefix: str, name: str) -> str:
    """Join a store key prefix and a (validated) name."""
    return f"{prefix}/{name}" if prefix else name
