"""The dependency rule of docs/ARCHITECTURE.md, enforced on the imports themselves.

domain ← services ← {ecs, db, slack} ← bootstrap ← cli: the domain imports nothing of
the bot outside itself, the services no adapter, the adapters not one another, and only
the composition roots read the settings. Every import counts, inside functions and under
``TYPE_CHECKING`` too: a type named across the rule is a dependency across it. A
violation is reported with its file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

ADAPTERS = ("bot.ecs", "bot.db", "bot.slack")
# What wires the layers together, and so sits outside all of them.
OUTER = ("bot.bootstrap", "bot.cli", "bot.console", "bot.testing", "bot.server")


@dataclass(frozen=True)
class Rule:
    """Modules under ``layer`` (a package or module name) may not import ``forbidden``
    (each a module and everything under it), except ``allowed`` inside them."""

    layer: str
    forbidden: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()


RULES = (
    Rule(
        "bot.domain", ("bot",), "the domain imports nothing of the bot outside it", ("bot.domain",)
    ),
    Rule(
        "bot.services",
        (*ADAPTERS, "bot.simulator", *OUTER),
        "services import no adapter (they see ports and plain values)",
    ),
    *(
        Rule(
            adapter,
            (*(other for other in ADAPTERS if other != adapter), *OUTER),
            "adapters do not import one another, nor what wires them",
        )
        for adapter in ADAPTERS
    ),
)

# Only the composition roots read the settings: bootstrap and cli, migrations/env.py
# (alembic by hand), and the two offline stacks that stand in for the environment
# (bot.testing builds the offline settings, the console is a command that builds the bot).
SETTINGS_READERS = ("bot.bootstrap", "bot.cli", "bot.migrations.env", "bot.testing", "bot.console")


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the importing module
    target: str  # the imported module (``from bot import metrics`` → ``bot.metrics``)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path) -> str:
    """The dotted name ``path`` is imported as (``migrations/`` ships as ``bot.migrations``)."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[0] == "migrations":
        parts.insert(0, "bot")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, source: str) -> Iterator[Import]:
    """Every import of ``bot`` in ``source``, resolved to absolute module names."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, module, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            # ``from bot import metrics`` imports the module bot.metrics; ``from
            # bot.domain.model import RequestState`` a name of bot.domain.model.
            for alias in node.names:
                yield Import(path, node.lineno, module, f"{base}.{alias.name}")


def violations_in(path: Path, source: str) -> list[str]:
    module = module_name(path)
    found = []
    for imp in imports_of(path, module, source):
        if not _within(imp.target, "bot"):
            continue
        where = f"{imp.path.relative_to(REPO_ROOT)}:{imp.line}"
        for rule in RULES:
            if (
                _within(module, rule.layer)
                and any(_within(imp.target, f) for f in rule.forbidden)
                and not any(_within(imp.target, a) for a in rule.allowed)
            ):
                found.append(f"{where}: {module} imports {imp.target}: {rule.why}")
        if _within(imp.target, "bot.settings") and not any(
            _within(module, reader) for reader in SETTINGS_READERS
        ):
            found.append(
                f"{where}: {module} imports {imp.target}: only bootstrap, cli and "
                "migrations/env.py read settings"
            )
    return found


def _sources() -> list[Path]:
    return sorted([*REPO_ROOT.glob("bot/**/*.py"), *REPO_ROOT.glob("migrations/**/*.py")])


def test_the_code_keeps_the_dependency_rule() -> None:
    sources = _sources()
    assert REPO_ROOT / "migrations" / "env.py" in sources
    assert {module_name(path).split(".")[-1] for path in sources} >= {"domain", "services", "db"}
    found = [v for path in sources for v in violations_in(path, path.read_text("utf-8"))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("bot/domain/x.py", "from bot.services.ports import Lease\n", "bot.services.ports.Lease"),
        ("bot/domain/x.py", "from ..services import ports\n", "bot.services.ports"),
        ("bot/domain/x.py", "def f():\n    import bot.metrics\n", "bot.metrics"),
        ("bot/services/x.py", "from bot.db.unit_of_work import UnitOfWork\n", "bot.db"),
        ("bot/services/x.py", "from bot import slack\n", "bot.slack"),
        ("bot/ecs/x.py", "from bot.slack.text import render\n", "bot.slack.text"),
        ("bot/db/x.py", "from bot.ecs.catalogue import sentence\n", "bot.ecs.catalogue"),
        ("bot/slack/x.py", "from bot.settings import Settings\n", "bot.settings"),
        ("bot/simulator/x.py", "from bot.settings import Settings\n", "only bootstrap"),
    ],
)
def test_a_violation_is_reported_with_its_file_and_line(
    relative: str, source: str, expected: str
) -> None:
    [violation] = violations_in(REPO_ROOT / relative, source)
    assert violation.startswith(f"{relative}:")
    assert expected in violation


@pytest.mark.parametrize(
    ("relative", "source"),
    [
        ("bot/domain/x.py", "from bot.domain.model import RequestState\nfrom . import errors\n"),
        ("bot/services/x.py", "from bot.domain import policy\nfrom bot import metrics\n"),
        ("bot/db/x.py", "from bot.services.ports import RequestStore\n"),
        ("bot/bootstrap.py", "from bot.settings import Settings\nfrom bot.db import migrate\n"),
        ("migrations/env.py", "from bot.settings import load_settings\n"),
    ],
)
def test_imports_the_rule_allows_pass(relative: str, source: str) -> None:
    assert violations_in(REPO_ROOT / relative, source) == []
