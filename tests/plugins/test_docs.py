"""Every hook is documented in docs/plugins/hooks.md, with its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from clarimap import hookspecs

HOOKS_DOC = Path(__file__).parents[2] / "docs" / "plugins" / "hooks.md"


def documented_signature(hook_name: str) -> str:
    """``clarimap_x(a: T, b: U) -> R``, from the hookspec's annotations as written in the source."""
    function = getattr(hookspecs, hook_name)
    parameters = ", ".join(
        f"{name}: {parameter.annotation}"
        for name, parameter in inspect.signature(function).parameters.items()
    )
    return f"{hook_name}({parameters}) -> {inspect.signature(function).return_annotation}"


def test_hook_names_are_every_hookspec() -> None:
    specs = {
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, "clarimap_spec")
    }
    assert set(hookspecs.HOOK_NAMES) == specs
    assert all(name.startswith("clarimap_") for name in specs)


@pytest.mark.parametrize("hook_name", hookspecs.HOOK_NAMES)
def test_hook_is_documented_with_its_signature(hook_name: str) -> None:
    text = HOOKS_DOC.read_text(encoding="utf-8")
    assert re.search(rf"^## `{hook_name}`", text, re.M), (
        f"no '## `{hook_name}`' heading in {HOOKS_DOC}"
    )
    signature = documented_signature(hook_name)
    assert signature in text, f"{HOOKS_DOC} lacks the signature {signature}"


@pytest.mark.parametrize("hook_name", hookspecs.HOOK_NAMES)
def test_hookspec_has_a_docstring_saying_when_it_is_called(hook_name: str) -> None:
    doc = " ".join((inspect.getdoc(getattr(hookspecs, hook_name)) or "").split())
    assert "Called" in doc and "Receives" in doc and "Returns" in doc
    firstresult = getattr(hookspecs, hook_name).clarimap_spec["firstresult"]
    assert ("``firstresult``" in doc) if firstresult else ("not ``firstresult``" in doc)


def test_documented_hooks_all_exist() -> None:
    text = HOOKS_DOC.read_text(encoding="utf-8")
    documented = re.findall(r"^## `(clarimap_\w+)`", text, re.M)
    assert sorted(documented) == sorted(hookspecs.HOOK_NAMES)
