"""``storage_options`` → each engine's store description: the one translation.

Users pass the same ``storage_options`` whichever driver they pick; this module turns a
:class:`~unizarr.paths.Location` plus those options into what each engine needs:

* zarr-python: an fsspec URL and filesystem keyword arguments (s3fs, gcsfs, HTTP);
* TensorStore: a ``kvstore`` JSON spec and a ``Context`` spec (its native ``s3``,
  ``gcs``, ``http``, ``memory`` and ``file`` drivers — TensorStore is never routed
  through Python).

Understood options (anything else is a ``ValueError``, so a typo never silently turns
into anonymous access):

=====================  =================================================================
``endpoint_url``       S3-compatible endpoint (``http://127.0.0.1:9000``); gs: API root
``region``             S3 region (default ``us-east-1`` when an endpoint is given)
``anon``               ``True``: unsigned, anonymous requests (public buckets)
``key``/``secret``     explicit S3 access key id / secret key
``token``              S3 session token; gs: ``"anon"`` or a credentials JSON path
``profile``            a profile of the AWS shared credentials/config files
``timeout``            seconds before a request is abandoned (default 30)
``retries``            attempts after a failed request (default 2)
``fsspec``             dict passed to the fsspec filesystem as is (zarr-python only)
``tensorstore``        dict merged into the TensorStore kvstore spec (TensorStore only)
=====================  =================================================================

``follow_symlinks_for_writes=True`` lets writes and deletes follow symlinks out of a
local store root (refused by default; see ``docs/safety.md``). Both drivers honour it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from typing import Any

from .paths import Location

KNOWN_OPTIONS = frozenset(
    {
        "endpoint_url", "region", "anon", "key", "secret", "token", "profile",
        "timeout", "retries", "fsspec", "tensorstore", "follow_symlinks_for_writes",
    }
)
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2


def check_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """Validate ``storage_options`` and return a copy.

    Raises
    ------
    ValueError
        An option unizarr does not understand, or a value of the wrong type.
    """
    opts = dict(options or {})
    unknown = set(opts) - KNOWN_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown storage option(s) {sorted(unknown)}; understood: {sorted(KNOWN_OPTIONS)}. "
            "Engine-specific extras go under 'fsspec' or 'tensorstore'."
        )
    if ("key" in opts) != ("secret" in opts):
        raise ValueError("storage options 'key' and 'secret' must be given together")
    for name in ("fsspec", "tensorstore"):
        if name in opts and not isinstance(opts[name], dict):
            raise ValueError(f"storage option {name!r} must be a dict")
    for name in ("timeout", "retries"):
        if name in opts and (not isinstance(opts[name], (int, float)) or opts[name] < 0):
            raise ValueError(f"storage option {name!r} must be a non-negative number")
    return opts


# -- zarr-python / fsspec -------------------------------------------------------------------
def fsspec_target(location: Location, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The fsspec URL and filesystem options for a remote location."""
    opts = check_options(options)
    timeout = float(opts.get("timeout", DEFAULT_TIMEOUT))
    retries = int(opts.get("retries", DEFAULT_RETRIES))
    kw: dict[str, Any] = {}
    scheme = location.scheme
    if scheme == "s3":
        if opts.get("anon"):
            kw["anon"] = True
        if "key" in opts:
            kw["key"], kw["secret"] = opts["key"], opts["secret"]
        if "token" in opts:
            kw["token"] = opts["token"]
        if "profile" in opts:
            kw["profile"] = opts["profile"]
        if "endpoint_url" in opts:
            kw["endpoint_url"] = opts["endpoint_url"]
        region = opts.get("region") or ("us-east-1" if "endpoint_url" in opts else None)
        if region:
            kw["client_kwargs"] = {"region_name": region}
        kw["config_kwargs"] = {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "retries": {"max_attempts": retries + 1, "mode": "standard"},
        }
        url = f"s3://{location.path}"
    elif scheme == "gs":
        if opts.get("anon"):
            kw["token"] = "anon"
        elif "token" in opts:
            kw["token"] = opts["token"]
        if "endpoint_url" in opts:
            kw["endpoint_url"] = opts["endpoint_url"]
        kw["timeout"] = timeout
        url = f"gs://{location.path}"
    elif scheme in ("http", "https"):
        import aiohttp

        kw["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=timeout)}
        url = location.url
    else:
        raise ValueError(f"{location.url} is not a remote location")
    kw.update(opts.get("fsspec", {}))
    return url, kw


# -- TensorStore ---------------------------------------------------------------------------
_CRED_LOCK = threading.Lock()
_CRED_DIR: str | None = None


def _credentials_profile(key: str, secret: str, token: str | None, region: str) -> dict[str, Any]:
    """TensorStore reads explicit AWS keys only from credentials files: write a private
    pair of files (mode 0600, removed at exit) holding one profile for these keys."""
    global _CRED_DIR
    digest = hashlib.sha256(f"{key}\0{secret}\0{token}\0{region}".encode()).hexdigest()[:16]
    with _CRED_LOCK:
        if _CRED_DIR is None:
            _CRED_DIR = tempfile.mkdtemp(prefix="unizarr-aws-")
            os.chmod(_CRED_DIR, 0o700)
            atexit.register(shutil.rmtree, _CRED_DIR, True)
        cred = os.path.join(_CRED_DIR, f"credentials-{digest}")
        conf = os.path.join(_CRED_DIR, f"config-{digest}")
        if not os.path.exists(cred):
            lines = ["[unizarr]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {secret}"]
            if token:
                lines.append(f"aws_session_token = {token}")
            for path, text in ((cred, "\n".join(lines)), (conf, f"[profile unizarr]\nregion = {region}")):
                fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text + "\n")
                os.replace(path + ".tmp", path)
    return {"type": "profile", "profile": "unizarr", "credentials_file": cred, "config_file": conf}


def tensorstore_kvstore(
    location: Location, options: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The TensorStore kvstore spec (path ending in ``/``) and context spec for a location.

    The context spec holds credentials and retry settings; callers merge it into their
    process-wide context (contexts with equal specs can be cached and shared).
    """
    opts = check_options(options)
    scheme = location.scheme
    context: dict[str, Any] = {}
    spec: dict[str, Any]
    if scheme == "file" and location.path.lower().endswith(".ozx"):
        # zipped OME-Zarr (RFC-9): TensorStore's zip kvstore over the archive file
        spec = {"driver": "zip", "base": {"driver": "file", "path": location.path}, "path": ""}
    elif scheme == "file":
        spec = {"driver": "file", "path": location.path.rstrip("/") + "/"}
    elif scheme == "memory":
        spec = {"driver": "memory", "path": location.path + "/" if location.path else ""}
    elif scheme == "s3":
        bucket, _, prefix = location.path.partition("/")
        spec = {"driver": "s3", "bucket": bucket, "path": prefix + "/" if prefix else ""}
        region = opts.get("region") or ("us-east-1" if "endpoint_url" in opts else None)
        if "endpoint_url" in opts:
            spec["endpoint"] = opts["endpoint_url"]
        if region:
            spec["aws_region"] = region
        if opts.get("anon"):
            context["aws_credentials"] = {"type": "anonymous"}
        elif "key" in opts:
            context["aws_credentials"] = _credentials_profile(
                opts["key"], opts["secret"], opts.get("token"), region or "us-east-1"
            )
        elif "profile" in opts:
            context["aws_credentials"] = {"type": "profile", "profile": opts["profile"]}
        context["s3_request_retries"] = {
            "max_retries": int(opts.get("retries", DEFAULT_RETRIES)) + 1,
            "initial_delay": "0.1s",
            "max_delay": "2s",
        }
    elif scheme == "gs":
        bucket, _, prefix = location.path.partition("/")
        spec = {"driver": "gcs", "bucket": bucket, "path": prefix + "/" if prefix else ""}
        if "endpoint_url" in opts:
            spec["endpoint"] = opts["endpoint_url"]
        context["gcs_request_retries"] = {
            "max_retries": int(opts.get("retries", DEFAULT_RETRIES)) + 1,
            "initial_delay": "0.1s",
            "max_delay": "2s",
        }
    elif scheme in ("http", "https"):
        spec = {"driver": "http", "base_url": location.url.rstrip("/") + "/"}
    else:
        raise ValueError(f"unsupported location {location.url}")
    spec.update(opts.get("tensorstore", {}))
    return spec, context
