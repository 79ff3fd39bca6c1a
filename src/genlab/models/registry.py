"""Explicit name → model family registry (one place; aliases for renamed families)."""

from __future__ import annotations

import difflib

from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel

_FAMILIES: dict[str, type[GenerativeModel]] = {}
_ALIASES: dict[str, str] = {}


def register(cls: type[GenerativeModel], *aliases: str) -> type[GenerativeModel]:
    """Register a family class under ``cls.family`` (and optional aliases)."""
    if not cls.family:
        raise ValueError(f"{cls.__name__} has no 'family' name")
    _FAMILIES[cls.family] = cls
    for alias in aliases:
        _ALIASES[alias] = cls.family
    return cls


def _load_builtin_families() -> None:
    # Imported here so that `genlab.models.registry` stays importable on its own and the families register once.
    import genlab.models.families  # noqa: F401


def family_names() -> list[str]:
    _load_builtin_families()
    return sorted(_FAMILIES)


def get_family(name: str) -> type[GenerativeModel]:
    """The class of family `name`; a typo names the closest registered family."""
    _load_builtin_families()
    name = _ALIASES.get(name, name)
    if name not in _FAMILIES:
        close = difflib.get_close_matches(name, list(_FAMILIES) + list(_ALIASES), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise GenlabError(f"unknown model family '{name}'{hint}; known: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]
