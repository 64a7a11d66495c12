"""One way to declare a program's settings: each is a field of a frozen dataclass, declared once with its
type, default, help text and check (:func:`setting`); a :class:`SettingsLoader` reads them.

Load order: embedded defaults, then a TOML file (when the program has one), then environment variables
(``<prefix><NAME>``, or the variable a setting names), then the command line. Every value is typed and
checked at start: the first one the program cannot run with raises :class:`SettingsError`, one line naming
the setting, where its value came from and what is allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tomllib
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Check = Callable[[Any], "str | None"]  # a value -> what is allowed when it is not, else None
CrossCheck = Callable[[T], "list[tuple[str, str]]"]  # settings -> (setting, what is allowed) per problem


class SettingsError(ValueError):
    """A setting the program cannot run with: the message names it, where it came from and what is allowed."""


def setting(
    default: Any,
    help_text: str,
    check: Check | None = None,
    env: str | None = None,
    shown: Callable[[Any], str] = repr,
) -> Any:
    """A dataclass field declaring one setting. ``check``: what is allowed when a value is not (else None);
    ``env``: its environment variable when not the loader's ``<prefix><NAME>``; ``shown``: the value as an
    error message may repeat it (e.g. without the password a URL holds)."""
    metadata = {"help": help_text, "check": check, "default": default, "env": env, "shown": shown}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def above_zero(value: float) -> str | None:
    return None if value > 0 else "a number above 0"


def seconds_above_zero(value: float) -> str | None:
    return None if value > 0 else "a number of seconds above 0"


def not_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def port_number(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a port number, 1-65535"


@dataclasses.dataclass(frozen=True)
class Declared:
    """One setting as declared: what help, ``--help-settings`` and the loader need."""

    name: str
    type: type
    default: Any
    help: str
    check: Check | None
    env: str
    shown: Callable[[Any], str] = repr


class FromEnvironment(str):
    """A flag's default taken from its environment variable, so that an error names the variable."""

    variable: str

    def __new__(cls, value: str, variable: str) -> FromEnvironment:
        made = super().__new__(cls, value)
        made.variable = variable
        return made


def _typed(value: Any, typ: type) -> Any:
    if typ is dict:
        return dict(json.loads(value)) if isinstance(value, str) else dict(value)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a yes/no value: {value!r}")
    return typ(value)  # Path, int, float, str


@dataclasses.dataclass(frozen=True)
class SettingsLoader(Generic[T]):
    """How one program reads its settings class ``declares``: variables ``<env_prefix><NAME>``, a TOML file
    named by ``config_variable`` (none when None), ``cross_checks`` over settings that depend on each other,
    and ``listed_by``: the command that lists the settings (named when a file has an unknown one)."""

    declares: type[T]
    env_prefix: str
    config_variable: str | None = None
    cross_checks: CrossCheck[T] | None = None
    listed_by: str = ""

    def declared(self) -> Iterator[Declared]:
        types = typing.get_type_hints(self.declares)
        for f in dataclasses.fields(self.declares):  # type: ignore[arg-type]
            env = f.metadata["env"] or f"{self.env_prefix}{f.name.upper()}"
            yield Declared(
                f.name, types[f.name], f.metadata["default"], f.metadata["help"], f.metadata["check"], env,
                f.metadata["shown"],
            )  # fmt: skip

    def describe(self) -> list[tuple[str, Any, str]]:
        """(name, default, help) of every setting, for ``--help-settings`` and the README."""
        return [(d.name, d.default, d.help) for d in self.declared()]

    def load(self, config_file: Path | None = None, env: Mapping[str, str] | None = None, **given: Any) -> T:
        """Defaults, then the TOML file, then the environment, then ``given`` (the command line; None: not
        given); every value typed and checked here (:class:`SettingsError`)."""
        env = dict(os.environ) if env is None else env
        declared = {d.name: d for d in self.declared()}
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        path = config_file
        if path is None and self.config_variable and env.get(self.config_variable):
            path = Path(env[self.config_variable])
        if path is not None:
            values = self._file(path)
            source = {name: f"{path}" for name in values}
            unknown = set(values) - set(declared)
            if unknown:
                raise SettingsError(
                    f"unknown setting(s) in {path}: {', '.join(sorted(unknown))} ({self.listed_by} lists them)"
                )
        for d in declared.values():
            if d.env in env:
                values[d.name], source[d.name] = env[d.env], f"environment variable {d.env}"
        for name, value in given.items():
            if isinstance(value, FromEnvironment):
                values[name], source[name] = str(value), f"environment variable {value.variable}"
            elif value is not None:
                values[name], source[name] = value, "the command line"
        typed: dict[str, Any] = {}
        for name, value in values.items():
            try:
                typed[name] = _typed(value, declared[name].type)
            except (ValueError, TypeError) as exc:
                raise SettingsError(
                    f"{name} = {declared[name].shown(value)} (from {source[name]}): expected"
                    f" {declared[name].type.__name__} ({exc})"
                ) from None
        settings = self.declares(**typed)
        problems = [(d.name, d.check(getattr(settings, d.name))) for d in declared.values() if d.check]
        problems += self.cross_checks(settings) if self.cross_checks else []
        for name, problem in problems:
            if problem:
                where = source.get(name, "the embedded default")
                shown = declared[name].shown(getattr(settings, name))
                raise SettingsError(f"{name} = {shown} (from {where}): {problem}")
        return settings

    @staticmethod
    def _file(path: Path) -> dict[str, Any]:
        try:
            with open(path, "rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path}: {exc}") from None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """A ``--name`` flag for each setting, its default the environment's value or the declared one
        (checked when loaded: :meth:`from_arguments`)."""
        for d in self.declared():
            flag = "--" + d.name.replace("_", "-")
            raw = os.environ.get(d.env)
            default = d.default if raw is None else FromEnvironment(raw, d.env)
            if d.type is bool:
                parser.add_argument(flag, action="store_true", default=default, help=d.help)
            else:
                parser.add_argument(flag, default=default, help=d.help)

    def from_arguments(self, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> T:
        """The settings from flags of :meth:`add_arguments` (a flag absent or None: the environment's value,
        else the default)."""
        given = {}
        for d in self.declared():
            value = getattr(args, d.name, None)
            given[d.name] = None if value is d.default else value
        return self.load(env=env, **given)
