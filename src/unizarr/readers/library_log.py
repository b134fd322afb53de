"""What the readers' libraries log or warn while an input is read, collected.

nibabel prints header fixes ("pixdim[1,2,3] should be positive; setting to abs of
pixdim values") through its own stderr handler, tifffile and pydicom log through
:mod:`logging`, and several of them also raise Python warnings. In the middle of a
``unizarr convert`` these lines are noise without context; :func:`library_messages`
collects them instead, once each, so the command shows them in its summary, naming
the library.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Loggers of the libraries unizarr reads inputs with (children included).
LIBRARIES = ("nibabel", "tifffile", "pydicom", "h5py", "imagecodecs", "czifile", "nd2",
             "liffile", "pylibCZIrw", "glymur", "PIL")

#: Loggers a library adds a stderr handler to when it is imported (nibabel's
#: imageglobals, pydicom's config). Only these hold back handlers added in the block:
#: others (e.g. unizarr's own tifffile log capture) must attach theirs at once.
IMPORT_HANDLERS = frozenset({"nibabel.global", "pydicom"})


def _library_of(name: str) -> str | None:
    top = name.split(".", 1)[0]
    return top if top in LIBRARIES else None


class _Collector(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into
        self.lock_add = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        lib = _library_of(record.name) or record.name
        _add(self.into, self.lock_add, lib, record.getMessage())


def _add(into: list[str], lock: threading.Lock, lib: str, text: str) -> None:
    line = f"{lib}: {' '.join(str(text).split())}"
    with lock:
        if line not in into:  # one slice in ten thousand may log the same thing
            into.append(line)


def _holding(logger: logging.Logger, added: list[tuple[logging.Logger, logging.Handler]]
             ) -> Callable[[logging.Handler], None]:
    """An ``addHandler`` for ``logger`` that holds the handler back in ``added``."""

    def hold(h: logging.Handler) -> None:
        added.append((logger, h))

    return hold


@contextmanager
def library_messages() -> Iterator[list[str]]:
    """Collect the readers' libraries' log records (WARNING and up) and warnings.

    Yields a list that fills with ``"library: message"`` lines (each once) while the
    block runs, in any thread. Nothing of these libraries reaches stderr meanwhile;
    warnings raised by other code are shown as usual.
    """
    found: list[str] = []
    handler = _Collector(found)
    # nibabel adds its stderr handler to "nibabel.global" when first imported, and
    # pydicom may add one to "pydicom": a handler a library adds while the block runs
    # is held back until it ends (importing them first instead would cost every
    # conversion their import time, half a second, whatever the input).
    saved: list[tuple[logging.Logger, list[logging.Handler], bool, Any]] = []
    added: list[tuple[logging.Logger, logging.Handler]] = []
    names = set(LIBRARIES) | {"nibabel.global"}  # nibabel's own stderr handler lives here
    for name in sorted(names):
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate,
                      logger.__dict__.get("addHandler")))
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logging.Logger.addHandler(logger, handler)
        logger.propagate = False
        if name in IMPORT_HANDLERS:
            logger.addHandler = _holding(logger, added)  # type: ignore[method-assign,assignment]
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Any, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
            lib = _library_of_file(filename)
            if lib is None:
                shown(message, category, filename, lineno, file, line)
            else:
                _add(found, handler.lock_add, lib, str(message))

        warnings.showwarning = show  # the filters stay: what was ignored stays ignored
        try:
            yield found
        finally:
            for logger, handlers, propagate, add in saved:
                if logger.name in IMPORT_HANDLERS:
                    del logger.addHandler  # the class's method again ...
                if add is not None:
                    logger.addHandler = add  # type: ignore[method-assign]  # an enclosing block's
                logger.removeHandler(handler)
                for h in handlers:
                    logging.Logger.addHandler(logger, h)
                logger.propagate = propagate
            for logger, h in added:
                logger.addHandler(h)


def _library_of_file(filename: str) -> str | None:
    """The library a warning comes from, by the path of the file that raised it."""
    parts = os.path.normpath(filename).split(os.sep)
    for lib in LIBRARIES:
        if lib in parts:
            return lib
    return None


__all__ = ["LIBRARIES", "library_messages"]
