"""DESIGN section 3's dependency rules, checked from the imports of every module (read with ``ast``, so
imports inside functions and under ``TYPE_CHECKING`` count too; nothing is imported to check it).

A small AST walk rather than import-linter: the rules are a handful of prefixes, the test needs no new
dependency, and a failure names the module, its line and the import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Final, NamedTuple

from tests.source_trees import parse_module

ROOT: Final = Path(__file__).resolve().parents[1]
SKIPPED: Final = frozenset({".venv", "var", "out", "node_modules", ".cache", ".git"})

# The core's composition root mounts the sub-apps built on it; nothing else in the core imports them.
COMPOSITION_ROOTS: Final[dict[str, str]] = {
    "issuance_server.app": "the app factory mounts /clerk (registration.clerk_app) and /ops (recovery.ops_app)"
    " and starts the registry link (recovery.link)",
}


class Import(NamedTuple):
    module: str  # the importing module, dotted
    line: int
    name: str  # what it imports, dotted (``from a import b`` is ``a.b``)

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.name}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The dotted name a ``from`` import refers to, relative imports resolved against ``module``."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports_of(path: Path) -> Iterator[Import]:
    module = _module_name(path)
    for node in ast.walk(parse_module(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, path.name == "__init__.py", node)
            for alias in node.names:
                yield Import(module, node.lineno, source if alias.name == "*" else f"{source}.{alias.name}")


@cache
def all_imports() -> tuple[Import, ...]:
    """Every import of every module of the repository (tests and benches included)."""
    found: list[Import] = []
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIPPED & set(path.relative_to(ROOT).parts):
            found.extend(_imports_of(path))
    return tuple(found)


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def is_first_party(name: str) -> bool:
    """A package or module of this repository (anything else is the standard library or third party)."""
    top = name.split(".")[0]
    return top not in SKIPPED and ((ROOT / top).is_dir() or (ROOT / f"{top}.py").is_file())


def offending(modules: tuple[str, ...], allowed: tuple[str, ...], but_not: tuple[str, ...] = ()) -> list[str]:
    """The first-party imports of ``modules`` (prefixes, minus ``but_not``) outside ``allowed``."""
    return [
        str(found)
        for found in all_imports()
        if _within(found.module, modules)
        and not _within(found.module, but_not)
        and is_first_party(found.name)
        and not _within(found.name, allowed)
    ]


def test_kiosk_imports_only_itself_wire_and_devices() -> None:
    bad = offending(("kiosk",), allowed=("kiosk", "wire", "devices"))
    assert not bad, "the kiosk app imports code it must not (DESIGN 3):\n" + "\n".join(bad)


def test_desk_imports_only_itself_wire_and_devices() -> None:
    # registration/__init__.py runs whenever the desk is imported: it is held to the desk's rule.
    desk = offending(("registration.desk",), allowed=("registration.desk", "wire", "devices"))
    package = [
        str(found) for found in all_imports() if found.module == "registration" and is_first_party(found.name)
    ]
    bad = desk + package
    assert not bad, "the desk app imports code it must not (DESIGN 3):\n" + "\n".join(bad)


def test_devices_import_only_themselves_and_wire() -> None:
    bad = offending(("devices",), allowed=("devices", "wire"))
    assert not bad, "devices/ imports code it must not (DESIGN 3):\n" + "\n".join(bad)


def test_wire_imports_only_itself() -> None:
    bad = offending(("wire",), allowed=("wire",))
    assert not bad, "wire/ imports code it must not (DESIGN 3):\n" + "\n".join(bad)


def test_registry_sim_imports_only_itself_and_wire() -> None:
    bad = offending(("registry_sim",), allowed=("registry_sim", "wire"))
    assert not bad, "registry_sim imports code it must not (DESIGN 3):\n" + "\n".join(bad)


def test_core_imports_registration_and_recovery_only_in_its_composition_root() -> None:
    bad = [
        str(found)
        for found in all_imports()
        if _within(found.module, ("issuance_server",))
        and found.module not in COMPOSITION_ROOTS
        and _within(found.name, ("registration", "recovery"))
    ]
    assert not bad, (
        "the core imports what builds on it outside its composition root (DESIGN 3):\n" + "\n".join(bad)
    )


def test_the_rules_see_the_imports() -> None:
    """The walk finds what the rules check: top-level and lazy (in a function) imports, and each declared
    composition root still importing what it is excused for."""
    names = {(found.module, found.name) for found in all_imports()}
    assert ("registration.desk.cli", "devices.printing.CupsPrinter") in names
    assert ("tests.pool", "devices.card.errors.NoReader") in names  # inside lease_reader()
    for root in COMPOSITION_ROOTS:
        assert any(module == root and _within(name, ("registration", "recovery")) for module, name in names)
