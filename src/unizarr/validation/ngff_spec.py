"""What the OME-NGFF specification fixes: versions, attribute keys, unit names,
transformation types. One copy, read by the judge (:mod:`unizarr.validation`) and by the
writer (:mod:`unizarr.ome`)."""

from __future__ import annotations

import re

#: NGFF versions judged here (0.6 release candidates and dev versions count as 0.6).
VERSIONS = ("0.4", "0.5", "0.6")

#: Length units of the specification (UDUNITS-2 names), in alphabetical order.
SPACE_UNITS = (
    "angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot",
    "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer",
    "mile", "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter",
    "yard", "yoctometer", "yottameter", "zeptometer", "zettameter",
)
#: Time units of the specification (UDUNITS-2 names), in alphabetical order.
TIME_UNITS = (
    "attosecond", "centisecond", "day", "decisecond", "exasecond", "femtosecond",
    "gigasecond", "hectosecond", "hour", "kilosecond", "megasecond", "microsecond",
    "millisecond", "minute", "nanosecond", "petasecond", "picosecond", "second",
    "terasecond", "yoctosecond", "yottasecond", "zeptosecond", "zettasecond",
)

#: Attribute keys that make a group an OME node (0.4 top level; 0.5+ under ``ome``).
OME_KEYS = ("multiscales", "omero", "image-label", "labels", "plate", "well",
            "bioformats2raw.layout", "series")

#: 0.6 transformation types and the parameter each carries inline (``path`` may replace it).
TRANSFORM_PARAMS: dict[str, str | None] = {
    "identity": None, "mapAxis": "mapAxis", "translation": "translation", "scale": "scale",
    "affine": "affine", "rotation": "rotation", "sequence": "transformations",
    "displacements": None, "coordinates": None, "inverseOf": "transformation",
    "bijection": None, "byDimension": "transformations",
}

#: Row, column and (before 0.6) field names of plates and wells.
ALNUM = re.compile(r"^[A-Za-z0-9]+$")
#: 0.6 field names of a well.
FIELD_06 = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: omero channel colours.
HEX6 = re.compile(r"^[0-9A-Fa-f]{6}$")
