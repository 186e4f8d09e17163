"""Selectors: instances picked by tag and by name instead of by id (docs/PRODUCT.md §4).

Pure values. ``tag:KEY=VALUE`` and ``name:PATTERN`` are read by the parser; all the
selectors of one command make one :class:`InstanceFilter` (an instance must satisfy
every selector), which the preview resolves with ``DescribeInstances`` filters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

TAG_PREFIX = "tag:"
NAME_PREFIX = "name:"
# ECS tag keys and values, and instance names, are at most 128 characters.
MAX_SELECTOR_TEXT = 128


@dataclass(frozen=True)
class TagSelector:
    """``tag:KEY=VALUE``: instances carrying the tag ``KEY`` with exactly ``VALUE``."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"{TAG_PREFIX}{self.key}={self.value}"


@dataclass(frozen=True)
class NameSelector:
    """``name:PATTERN``: instances whose name matches ``PATTERN`` (``*``: any run of
    characters; no ``*``: the exact name)."""

    pattern: str

    def __str__(self) -> str:
        return f"{NAME_PREFIX}{self.pattern}"


Selector: TypeAlias = TagSelector | NameSelector


def is_selector_word(text: str) -> bool:
    """True when ``text`` is meant as a selector (well-formed or not): it starts with
    ``tag:`` or ``name:``, in any case."""
    lowered = text[:5].lower()
    return lowered.startswith(TAG_PREFIX) or lowered.startswith(NAME_PREFIX)


def read_selector(text: str) -> Selector | str:
    """The selector ``text`` spells, or a sentence saying why it is none. Only call it
    on words for which :func:`is_selector_word` holds."""
    if text[:4].lower() == TAG_PREFIX:
        body = text[4:]
        key, equals, value = body.partition("=")
        if not equals:
            return "a tag selector is `tag:KEY=VALUE`; the `=` and the value are missing."
        if not key:
            return "a tag selector is `tag:KEY=VALUE`; the key is missing."
        if not value:
            return (
                "a tag selector is `tag:KEY=VALUE`; the value is missing (an empty value "
                "would match every value of the key)."
            )
        if len(key) > MAX_SELECTOR_TEXT or len(value) > MAX_SELECTOR_TEXT:
            return f"tag keys and values are at most {MAX_SELECTOR_TEXT} characters."
        return TagSelector(key, value)
    pattern = text[5:]
    if not pattern:
        return "a name selector is `name:PATTERN` (`*` matches any run of characters)."
    if len(pattern) > MAX_SELECTOR_TEXT:
        return f"instance names are at most {MAX_SELECTOR_TEXT} characters."
    return NameSelector(pattern)


@lru_cache(maxsize=256)
def name_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of an instance name against ``pattern``, as ECS's ``InstanceName`` filter
    reads it: ``*`` is a wildcard, everything else literal."""
    if "*" not in pattern:
        return pattern.__eq__
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None


@dataclass(frozen=True)
class InstanceFilter:
    """All the selectors of one command, as one filter: every tag must hold and the name
    must match every pattern."""

    tags: tuple[tuple[str, str], ...] = ()
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, selectors: Iterable[Selector]) -> InstanceFilter:
        tags: dict[tuple[str, str], None] = {}
        names: dict[str, None] = {}
        for selector in selectors:
            if isinstance(selector, TagSelector):
                tags[(selector.key, selector.value)] = None
            else:
                names[selector.pattern] = None
        return cls(tuple(tags), tuple(names))

    @property
    def empty(self) -> bool:
        return not self.tags and not self.names

    @property
    def contradictory(self) -> bool:
        """Two values for one tag key: no instance can match."""
        keys = [key for key, _ in self.tags]
        return len(keys) != len(set(keys))

    def matches(self, name: str, tags: Mapping[str, str]) -> bool:
        """True when an instance with ``name`` and ``tags`` passes every selector."""
        return all(tags.get(key) == value for key, value in self.tags) and all(
            name_matcher(pattern)(name) for pattern in self.names
        )
