"""Selector resolution in the preview use case, on the in-memory fakes of the ports:
what is asked of ECS, what is recorded, and what the person is told, as values."""

from __future__ import annotations

from bot.domain.commands import RebootCommand
from bot.domain.ecs_values import TAG_FILTER_LIMIT
from bot.domain.model import InstanceRef, Role
from bot.domain.policy import Binding
from bot.domain.selectors import NameSelector, TagSelector
from bot.services.answers import MatchCapped, NoMatch, PreviewNote, Selection, TooManyMatched
from bot.services.context import FlowConfig
from bot.services.preview import PreviewAsked, preview
from bot.slack.text import answer_text, help_text, preview_note_text
from bot.testing.memory import MemoryBot, memory_bot

HZ, SH = "cn-hangzhou", "cn-shanghai"
USER = "U1"


def _bot(limit: int = 500) -> MemoryBot:
    bot = memory_bot(FlowConfig(max_instances=limit))
    bot.db.grant(Binding(USER, Role.OPERATOR))
    return bot


def _asked(
    *selectors: TagSelector | NameSelector, regions: tuple[str, ...] = (HZ,)
) -> PreviewAsked:
    return PreviewAsked(
        USER,
        "C1",
        RebootCommand((), selectors=selectors, search_regions=regions),
    )


def test_two_name_patterns_and_a_tag_must_all_hold() -> None:
    bot = _bot()
    bot.ecs.add_instance(HZ, "i-aaaaaaaa1", name="web-01-blue", tags={"app": "web"})
    bot.ecs.add_instance(HZ, "i-aaaaaaaa2", name="web-02-green", tags={"app": "web"})
    bot.ecs.add_instance(HZ, "i-aaaaaaaa3", name="web-03-blue", tags={"app": "db"})
    bot.ecs.add_instance(SH, "i-aaaaaaaa4", name="web-04-blue", tags={"app": "web"})

    request = preview(
        bot.ctx,
        _asked(
            TagSelector("app", "web"),
            NameSelector("web-*"),
            NameSelector("*-blue"),
            regions=(HZ, SH),
        ),
    )

    assert request is not None
    assert [i.ref for i in request.instances] == [
        InstanceRef(HZ, "i-aaaaaaaa1"),
        InstanceRef(SH, "i-aaaaaaaa4"),
    ]
    assert request.selectors == ("tag:app=web", "name:web-*", "name:*-blue")
    assert [c.method for c in bot.ecs.calls] == [
        "find_instances",
        "find_instances",
        "dry_run_reboot",
        "dry_run_reboot",
    ]
    [published] = bot.presenter.of("publish_request")
    assert isinstance(published.said, PreviewNote)
    assert published.said.selection == Selection(
        ("tag:app=web", "name:web-*", "name:*-blue"), ((HZ, 1), (SH, 1))
    )


def test_one_tag_key_asked_two_values_matches_nothing_without_asking_ecs() -> None:
    bot = _bot()
    bot.ecs.add_instance(HZ, "i-aaaaaaaa1", tags={"app": "web"})
    assert preview(bot.ctx, _asked(TagSelector("app", "web"), TagSelector("app", "db"))) is None
    [told] = bot.presenter.of("tell")
    assert isinstance(told.said, NoMatch)
    assert told.said.contradictory
    assert bot.ecs.calls == []
    assert bot.db.actions() == []


def test_a_tag_filter_at_the_ecs_cap_is_refused_not_shortened() -> None:
    bot = _bot(limit=5000)
    for n in range(TAG_FILTER_LIMIT + 5):
        bot.ecs.add_instance(HZ, f"i-{n:010d}", tags={"app": "web"})
    assert preview(bot.ctx, _asked(TagSelector("app", "web"))) is None
    [told] = bot.presenter.of("tell")
    assert isinstance(told.said, MatchCapped)
    assert "1,000" in answer_text(told.said)
    assert bot.ecs.calls_of("dry_run_reboot") == []


def test_too_many_counts_the_ids_given_beside_the_match() -> None:
    bot = _bot(limit=2)
    bot.ecs.add_instance(HZ, "i-aaaaaaaa1", name="web-1")
    bot.ecs.add_instance(HZ, "i-aaaaaaaa2", name="web-2")
    asked = PreviewAsked(
        USER,
        "C1",
        RebootCommand(
            (InstanceRef(HZ, "i-bbbbbbbb1"),),
            selectors=(NameSelector("web-*"),),
            search_regions=(HZ,),
        ),
    )
    assert preview(bot.ctx, asked) is None
    [told] = bot.presenter.of("tell")
    assert isinstance(told.said, TooManyMatched)
    assert told.said.count == 3
    assert "3 instances in all, more than the 2" in answer_text(told.said)


def test_a_selector_matching_nothing_still_previews_the_ids_given_and_says_so() -> None:
    bot = _bot()
    bot.ecs.add_instance(HZ, "i-aaaaaaaa1", name="db-1")
    asked = PreviewAsked(
        USER,
        "C1",
        RebootCommand(
            (InstanceRef(HZ, "i-aaaaaaaa1"),),
            selectors=(NameSelector("web-*"),),
            search_regions=(HZ,),
        ),
    )
    request = preview(bot.ctx, asked)
    assert request is not None
    assert [i.ref for i in request.instances] == [InstanceRef(HZ, "i-aaaaaaaa1")]
    assert bot.presenter.of("tell") == []
    [published] = bot.presenter.of("publish_request")
    assert isinstance(published.said, PreviewNote)
    assert preview_note_text(published.said) == (
        ":warning: `name:web-*` matched no instance in cn-hangzhou; previewing the 1 named by id."
    )


def test_the_words_for_a_selection_and_the_help() -> None:
    note = PreviewNote(USER, selection=Selection(("tag:app=web",), ((HZ, 37), (SH, 4)), 2))
    assert preview_note_text(note) == (
        "`tag:app=web` → 37 in cn-hangzhou, 4 in cn-shanghai (41 in all), plus 2 named by id."
    )
    shown = help_text()
    assert "`tag:KEY=VALUE`" in shown
    assert "`name:PATTERN`" in shown
    assert "--region REGION[,REGION…]" in shown
