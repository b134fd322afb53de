"""OME-NGFF ``image-label`` metadata: label colours and properties."""

from __future__ import annotations

from typing import Any

from .findings import Judge


def _label_values(judge: Judge, items: Any, field: str, what: str) -> None:
    if not judge.is_list(items, field, 1):
        return
    seen: set[Any] = set()
    for f, item in judge.objects(items, field):
        if judge.required(item, "label-value", f):
            v = item["label-value"]
            if judge.is_number(v, f"{f}.label-value"):
                if v in seen:
                    judge.error(f"{f}.label-value", f"label-value {v} appears twice in {what}")
                seen.add(v)
        if what == "colors" and "rgba" in item:
            rgba = item["rgba"]
            if judge.is_list(rgba, f"{f}.rgba"):
                if len(rgba) != 4:
                    judge.error(f"{f}.rgba", f"must have 4 values, got {len(rgba)}")
                for k, c in enumerate(rgba):
                    judge.is_int(c, f"{f}.rgba[{k}]", 0)
                    if isinstance(c, int) and c > 255:
                        judge.error(f"{f}.rgba[{k}]", f"must be <= 255, got {c}")


def image_label(judge: Judge, value: Any, field: str, version: str) -> None:
    if not judge.is_dict(value, field):
        return
    judge.version_hint(value, field, "image-label", version)
    if "colors" in value:
        _label_values(judge, value["colors"], f"{field}.colors", "colors")
    else:
        judge.warn(f"{field}.colors", "image-label SHOULD list 'colors'")
    if "properties" in value:
        _label_values(judge, value["properties"], f"{field}.properties", "properties")
    if "source" in value and judge.is_dict(value["source"], f"{field}.source"):
        if "image" in value["source"]:
            judge.is_str(value["source"]["image"], f"{field}.source.image")
