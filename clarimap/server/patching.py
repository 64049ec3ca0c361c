"""The PATCH actions of the wire reference, section 6, as pure functions over an input's ``data``.

Called by the inputs handlers (:mod:`clarimap.server.api_inputs`); nothing here touches the
database. ``data`` is the input's JSON ``data`` object without its asset (``image``/``video``),
which a PATCH never changes.

The rules, where the reference leaves a choice:

* **merge**: ``null`` changes nothing; ``{}`` and ``[]`` replace the old value; two objects merge
  key by key, recursively; outside ``metadata``, list items that are objects with an ``id``
  (concepts, regions, a region's concepts) update the item with the same id in place (merged
  recursively) or are appended, and items without an id are appended; inside ``metadata`` (free
  JSON) lists are appended to; any other value replaces the old one.
* **remove**: a key set to ``true`` is deleted; ``null`` and ``{}`` change nothing; an object
  descends into the old object under that key (nothing happens when there is none); outside
  ``metadata`` a list deletes the old items whose ``id`` matches one of its items (concept values
  are ignored); any other value (including a list inside ``metadata``) overwrites the key.
* **overwrite**: the patch's ``data`` replaces the old one wholesale (keys set to ``null`` are
  left out).
"""

from __future__ import annotations

import copy
from typing import Any

ACTIONS = ("merge", "remove", "overwrite")

# The key under which the JSON is free-form: lists there are plain values, not id-keyed.
FREE_FORM_KEY = "metadata"


def apply_patch(action: str, data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` that results from applying ``patch`` with ``action`` (inputs are not changed)."""
    if action == "merge":
        return merge_data(data, patch)
    if action == "remove":
        return remove_data(data, patch)
    if action == "overwrite":
        return overwrite_data(data, patch)
    raise ValueError(f"unknown PATCH action {action!r}; expected one of {', '.join(ACTIONS)}")


def merge_data(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``patch`` merged in (section 6, merge); ``data: {}`` changes nothing."""
    merged = copy.deepcopy(data)
    for key, value in patch.items():
        if value is not None:
            merged[key] = _merge(merged.get(key), value, id_keyed=key != FREE_FORM_KEY)
    return merged


def remove_data(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``data`` with what ``patch`` marks removed (section 6, remove)."""
    return _remove(data, patch, id_keyed=True)


def overwrite_data(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The patch's data, replacing ``data`` wholesale (section 6, overwrite)."""
    return {key: copy.deepcopy(value) for key, value in patch.items() if value is not None}


def _merge(old: Any, new: Any, *, id_keyed: bool) -> Any:
    if new is None:
        return copy.deepcopy(old)
    if isinstance(old, dict) and isinstance(new, dict) and new:
        result = copy.deepcopy(old)
        for key, value in new.items():
            if value is None:
                continue
            result[key] = _merge(result.get(key), value, id_keyed=id_keyed and key != FREE_FORM_KEY)
        return result
    if isinstance(old, list) and isinstance(new, list) and new:
        if not id_keyed:
            return copy.deepcopy(old) + copy.deepcopy(new)
        return _merge_by_id(old, new)
    if isinstance(new, dict):
        # A new object (or one replacing a non-object): drop the nulls it holds.
        return {k: _merge(None, v, id_keyed=id_keyed) for k, v in new.items() if v is not None}
    return copy.deepcopy(new)


def _merge_by_id(old: list[Any], new: list[Any]) -> list[Any]:
    result = copy.deepcopy(old)
    for item in new:
        item_id = _item_id(item)
        if item_id is not None:
            for index, existing in enumerate(result):
                if _item_id(existing) == item_id:
                    result[index] = _merge(existing, item, id_keyed=True)
                    break
            else:
                result.append(_merge(None, item, id_keyed=True))
        else:
            result.append(copy.deepcopy(item))
    return result


def _remove(old: dict[str, Any], patch: dict[str, Any], *, id_keyed: bool) -> dict[str, Any]:
    result = copy.deepcopy(old)
    for key, value in patch.items():
        child_keyed = id_keyed and key != FREE_FORM_KEY
        if value is True:
            result.pop(key, None)
        elif value is None:
            continue
        elif isinstance(value, dict):
            if isinstance(result.get(key), dict):
                result[key] = _remove(result[key], value, id_keyed=child_keyed)
        elif isinstance(value, list) and child_keyed:
            if isinstance(result.get(key), list):
                doomed = {_item_id(item) for item in value} - {None}
                result[key] = [item for item in result[key] if _item_id(item) not in doomed]
        else:
            result[key] = copy.deepcopy(value)
    return result


def _item_id(item: Any) -> str | None:
    if isinstance(item, dict):
        item_id = item.get("id")
        if isinstance(item_id, str) and item_id:
            return item_id
    return None
