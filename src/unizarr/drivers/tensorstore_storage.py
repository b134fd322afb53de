"""``storage_options`` -> TensorStore's kvstore and context specs (the TensorStore
driver's part of :mod:`unizarr.storage`, which checks the options both drivers share).

TensorStore reaches every store through its own native kvstore drivers (``file``,
``zip``, ``memory``, ``s3``, ``gcs``, ``http``), never through Python; this module says
which, with what credentials and retry settings. It imports no engine.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from typing import Any

from ..paths import Location
from ..storage import DEFAULT_RETRIES, check_options

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
