"""The targets of a reboot: instance ids (with their regions), ECS console lines and
selectors, read from words (docs/PRODUCT.md §4)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.model import InstanceRef
from bot.domain.parser.options import REBOOT_EXAMPLE, REBOOT_USAGE, TABLE
from bot.domain.parser.words import (
    ID_ATTEMPT,
    ID_RULE,
    INSTANCE_ID_PATTERN,
    REGION_EXAMPLES,
    REGION_ID_PATTERN,
    Word,
    by_line,
    is_option,
    is_valid_id_word,
    quote,
    quote_list,
    split_words,
)
from bot.domain.selectors import Selector, is_selector_word, read_selector


@dataclass(frozen=True)
class ParseProblem:
    """One thing wrong with the text: a sentence for people, and the token it is about
    (empty when it is about the text as a whole)."""

    message: str
    token: str = ""


@dataclass(frozen=True)
class InstanceListParse:
    """The instances a text names, in first-seen order and without duplicates.

    ``duplicates`` holds each dropped repeat (so the preview can say so); ``errors``
    every problem found. Nothing may be previewed while ``errors`` is not empty.
    """

    instances: tuple[InstanceRef, ...]
    duplicates: tuple[InstanceRef, ...] = ()
    errors: tuple[ParseProblem, ...] = ()
    # The selectors met (``tag:…``, ``name:…``), in first-seen order, without repeats.
    selectors: tuple[Selector, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


# A word that is a valid id, ``REGION/`` or ``REGION:`` prefix or not: what
# ``_read_line`` accepts through ``ID_ATTEMPT``, ``INSTANCE_ID_PATTERN`` and
# ``REGION_ID_PATTERN`` (neither can start with ``tag:`` or ``name:``).
_VALID_ID_WORD = re.compile(
    rf"(?:(?P<region>{REGION_ID_PATTERN.pattern})[/:])?(?P<id>{INSTANCE_ID_PATTERN.pattern})"
)


# Text that is nothing but valid id words between spaces, commas and semicolons: how ids
# are usually pasted. ``read_only_ids`` reads it in one pass, as ``read_instances`` reads
# its words one by one (tests/unit/test_parser.py holds the two readings equal).
_ID_WORD = rf"(?:{REGION_ID_PATTERN.pattern}[/:])?{INSTANCE_ID_PATTERN.pattern}"
_ONLY_IDS = re.compile(rf"[\s,;]*{_ID_WORD}(?:[\s,;]+{_ID_WORD})*[\s,;]*")


@dataclass
class _LineReading:
    # Each valid id as written: (instance id, its region prefix or None).
    ids: list[tuple[str, str | None]] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    attempts: int = 0  # tokens that tried to be ids or selectors, valid or not
    selectors: dict[Selector, None] = field(default_factory=dict)


def parse_instances(
    text: str, *, default_region: str | None, max_instances: int
) -> InstanceListParse:
    """Read an INSTANCES list as people paste it (docs/PRODUCT.md §4): ids with optional
    ``REGION/`` or ``REGION:`` prefixes, or whole ECS console lines.

    Use ``parse_command`` for the slash-command text; this is for text that holds
    instances only, so an option here is an error.
    """
    words = split_words(text, list_options=TABLE.list_options())
    option_problems = [
        ParseProblem(f"Unexpected option {quote(word.text)} in an instance list.", word.text)
        for word in words
        if is_option(word.text)
    ]
    parsed = read_instances(
        by_line(word for word in words if not is_option(word.text)),
        region=default_region,
        max_instances=max_instances,
    )
    selector_problems = [
        ParseProblem(f"A selector ({quote(str(selector))}) cannot stand in an instance list.")
        for selector in parsed.selectors
    ]
    return InstanceListParse(
        parsed.instances,
        parsed.duplicates,
        tuple(option_problems) + parsed.errors + tuple(selector_problems),
    )


def read_instances(
    lines: list[list[Word]],
    *,
    region: str | None,
    max_instances: int,
    several_regions: Sequence[str] = (),
) -> InstanceListParse:
    """The core of ``parse_instances`` and of a reboot command: words already freed
    of options, by line.

    ``region`` is the region of ids written without one. ``several_regions`` is a
    ``--region`` list of more than one region: then an id without its own region is an
    error, since guessing one of the listed regions could reboot the wrong instance.
    """
    reading = _LineReading()
    for line in lines:
        _read_line(line, reading)
    return _collected(
        reading, region=region, max_instances=max_instances, several_regions=several_regions
    )


def read_only_ids(text: str, *, region: str | None, max_instances: int) -> InstanceListParse | None:
    """``read_instances`` of ``text``'s words when they are nothing but valid ids (each
    with or without its region) between spaces, commas and semicolons; None for any other
    text. One regex instead of a pass per word: a command's ids are read before its ack."""
    if _ONLY_IDS.fullmatch(text) is None:
        return None
    ids = [(match["id"], match["region"]) for match in _VALID_ID_WORD.finditer(text)]
    reading = _LineReading(ids=ids, attempts=len(ids))
    return _collected(reading, region=region, max_instances=max_instances, several_regions=())


def _collected(
    reading: _LineReading, *, region: str | None, max_instances: int, several_regions: Sequence[str]
) -> InstanceListParse:
    """The instances of the ids read, their duplicates, and every problem."""
    # dicts keep first-seen order and make the duplicate check O(1); keyed by plain
    # (region, id) tuples, with one InstanceRef made per instance (this runs before the
    # ack of every command).
    instances: dict[tuple[str, str], InstanceRef] = {}
    duplicates: list[InstanceRef] = []
    no_region: dict[str, None] = {}
    default = None if several_regions else region
    for instance_id, written_region in reading.ids:
        ref_region = written_region or default
        if ref_region is None:
            no_region[instance_id] = None
            continue
        key = (ref_region, instance_id)
        ref = instances.get(key)
        if ref is None:
            instances[key] = InstanceRef(ref_region, instance_id)
        else:
            duplicates.append(ref)

    problems = reading.problems
    if no_region and several_regions:
        problems.append(_several_regions_problem(list(no_region), several_regions))
    elif no_region:
        problems.append(_no_region_problem(list(no_region)))
    count = len(instances) + len(no_region)
    if count > max_instances:
        problems.append(
            ParseProblem(
                f"Too many instances: {count} given, the limit is {max_instances} "
                "per request (ECSBOT_MAX_INSTANCES). Split the list."
            )
        )
    if reading.attempts == 0:
        problems.append(
            ParseProblem(
                f"No instance ids or selectors given. Usage: {REBOOT_USAGE}, "
                f"for example {REBOOT_EXAMPLE}. "
                "Type `/ecs-reboot help` for more."
            )
        )
    return InstanceListParse(
        tuple(instances.values()), tuple(duplicates), tuple(problems), tuple(reading.selectors)
    )


def _read_line(line: list[Word], reading: _LineReading) -> None:
    """Read one line. A line that holds a valid id is a console line: its other
    columns (names, statuses, IPs, zones) are ignored, but a ``tag:``/``name:`` word is
    a selector there too. Bad ids, bad region prefixes and malformed selectors are
    errors wherever they stand."""
    valid = [_VALID_ID_WORD.fullmatch(word.text) for word in line]
    console_line = any(valid) or any(is_valid_id_word(word.text) for word in line)
    for word, valid_id in zip(line, valid, strict=True):
        if valid_id is not None:
            # The usual word, a well-formed id with or without a well-formed region:
            # one regex instead of the four checks below (same reading).
            reading.attempts += 1
            reading.ids.append((valid_id["id"], valid_id["region"]))
            continue
        if is_selector_word(word.text):
            _read_selector_word(word.text, reading)
            continue
        match = ID_ATTEMPT.fullmatch(word.text)
        if match is None:
            if not console_line:
                reading.problems.append(_not_an_id_problem(word.text))
            continue
        reading.attempts += 1
        instance_id, region = match["id"], match["region"]
        if not INSTANCE_ID_PATTERN.fullmatch(instance_id):
            reading.problems.append(
                ParseProblem(
                    f"{quote(word.text)} is not a valid instance id: an id is {ID_RULE}.",
                    word.text,
                )
            )
        elif region is not None and not REGION_ID_PATTERN.fullmatch(region):
            reading.problems.append(
                ParseProblem(
                    f"{quote(region)} in {quote(word.text)} is not a region id "
                    f"({REGION_EXAMPLES}).",
                    word.text,
                )
            )
        else:
            reading.ids.append((instance_id, region))


def _read_selector_word(text: str, reading: _LineReading) -> None:
    reading.attempts += 1
    selector = read_selector(text)
    if isinstance(selector, str):
        reading.problems.append(
            ParseProblem(f"{quote(text)} is not a valid selector: {selector}", text)
        )
    else:
        reading.selectors[selector] = None


def _not_an_id_problem(text: str) -> ParseProblem:
    return ParseProblem(
        f"{quote(text)} is neither an option nor an instance id ({ID_RULE}) or "
        "selector (`tag:K=V`, `name:P`).",
        text,
    )


def _several_regions_problem(instance_ids: Sequence[str], regions: Sequence[str]) -> ParseProblem:
    return ParseProblem(
        f"No region for {quote_list(instance_ids)}: `--region` lists several regions "
        f"({', '.join(regions)}), so write `REGION/i-…` for each id.",
        instance_ids[0],
    )


def _no_region_problem(instance_ids: Sequence[str]) -> ParseProblem:
    return ParseProblem(
        f"No region for {quote_list(instance_ids)}: add `--region REGION` "
        "(or write `REGION/i-…`), or set ECSBOT_DEFAULT_REGION.",
        instance_ids[0],
    )
