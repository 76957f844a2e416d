"""The CLI loads only the module of the command it runs; the map must match the modules."""

from __future__ import annotations

import argparse

from cli.main import COMMAND_MODULE, build_parser, command_modules


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    assert _commands(build_parser()) == set(COMMAND_MODULE)
    for command, module in COMMAND_MODULE.items():
        (loaded,) = command_modules(command)
        assert loaded.__name__ == f"cli.{module}"
        assert command in _commands(build_parser(command))
