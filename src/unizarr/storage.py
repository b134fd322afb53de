"""``storage_options`` → each engine's store description: the shared checks.

Users pass the same ``storage_options`` whichever driver they pick; this module turns a
:class:`~unizarr.paths.Location` plus those options into what each engine needs:

* zarr-python: an fsspec URL and filesystem keyword arguments (s3fs, gcsfs, HTTP);
* TensorStore: a ``kvstore`` JSON spec and a ``Context`` spec (its native ``s3``,
  ``gcs``, ``http``, ``memory`` and ``file`` drivers — TensorStore is never routed
  through Python), built by the TensorStore driver
  (:func:`unizarr.drivers.tensorstore_storage.tensorstore_kvstore`) from the options
  checked here.

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
