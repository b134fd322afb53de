"""Judge OME-NGFF attributes (0.4, 0.5, 0.6): images, labels, plates, wells, bioformats2raw.

"Metadata" means three different things in unizarr; this package judges only one:

* the **OME attributes** of a group (``multiscales``, ``omero``, ``image-label``,
  ``plate``, ``well``, ...): judged here;
* the **Zarr metadata document** of a node (``zarr.json`` / ``.zarray`` / ``.zgroup``):
  read and written by :mod:`unizarr.metadata`;
* the **NIfTI header** of a NIfTI-Zarr (the ``nifti`` member): written and read by
  :mod:`unizarr.nifti`, checked against level 0 by ``unizarr validate``
  (:func:`unizarr.io.report.nifti_findings`).

Every rule of the specification a document breaks becomes a :class:`Finding` naming the
node path and the field (``multiscales[0].axes[1].unit``). A MUST that is broken is an
``"error"``; a SHOULD (a recommended unit name, a plate's ``name``, label ``colors``) is a
``"warning"``, so a document is *valid* when it has no errors and *strict-valid* when it
has no warnings either - the two levels of the specification's own test suites.

Two entry points:

* :func:`validate_attributes` judges one group's attributes (a JSON document; no I/O).
* :func:`validate_hierarchy` walks a store: each node's attributes, plus what only the
  store can tell (dataset arrays exist with the rank of the axes, listed labels, wells
  and fields exist), recursing into ``labels/``, wells, fields and bioformats2raw series.

Modules: :mod:`.ngff_spec` (what the specification fixes), :mod:`.findings` (findings and
the judge that collects them), :mod:`.ome_document` (one group's attributes),
:mod:`.ome_image`, :mod:`.ome_labels`, :mod:`.ome_hcs` (one kind of OME object each) and
:mod:`.ome_store` (the walk over a store).
"""

from __future__ import annotations

from .findings import Finding, errors
from .ngff_spec import OME_KEYS, SPACE_UNITS, TIME_UNITS, VERSIONS
from .ome_document import ome_version, validate_attributes
from .ome_store import validate_hierarchy

__all__ = [
    "Finding",
    "OME_KEYS",
    "SPACE_UNITS",
    "TIME_UNITS",
    "VERSIONS",
    "errors",
    "ome_version",
    "validate_attributes",
    "validate_hierarchy",
]
