"""The dependency arrows of the README's layout, enforced: adapters -> core <- storage,
with the composition root (`app/`) above them all and nothing importing it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "bot", "storage", "adapters")
# What each package may import of ours, by module prefix; everything else of ours is refused.
ALLOWED: dict[str, tuple[str, ...]] = {
    "bot": ("bot",),
    # The Store engines see only the core's vocabulary, its ports and its settings base.
    "storage": ("storage", "bot.domain", "bot.ports", "bot.settings"),
    "adapters": ("adapters", "bot"),
    "app": PACKAGES,
}
# Adapters never reach into each other: each translates one platform.
SIBLINGS = ("adapters.discord", "adapters.slack", "adapters.console")


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def imports_of(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            # `from bot import texts` imports the module bot.texts.
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            for line, module in imports_of(path, root):
                if not ours(module):
                    continue
                where = f"{path.relative_to(root)}:{line} imports {module}"
                if not any(within(module, allowed) for allowed in ALLOWED[package]):
                    found.append(where)
                in_an_adapter = any(within(name, sibling) for sibling in SIBLINGS)
                for sibling in SIBLINGS:
                    if in_an_adapter and within(module, sibling) and not within(name, sibling):
                        found.append(where)
    return found


def test_dependencies_run_one_way() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("bot", "from storage import open_store\n", "storage"),
        ("bot", "def f():\n    from adapters.discord import invite_url\n", "adapters.discord"),
        ("bot", "import app.cli\n", "app.cli"),
        ("storage", "from bot.core import ByokCore\n", "bot.core"),
        ("storage", "from bot import texts\n", "bot.texts"),
        ("adapters/slack", "from adapters.discord.render import split\n", "adapters.discord"),
        ("adapters", "from storage.sqlite import SqliteStore\n", "storage.sqlite"),
    ],
)
def test_the_check_catches_a_wrong_arrow(
    package: str, source: str, expected: str, tmp_path: Path
) -> None:
    """The contract must be able to fail: plant one bad import and see it reported."""
    planted = tmp_path / package / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text(source)
    assert [v for v in violations(tmp_path) if expected in v]
