"""The console's copy of the lifecycle table (which buttons a state shows) is the domain's."""

from __future__ import annotations

import json
import re

from api.routers.console import CONSOLE_DIR
from domain.lifecycle import COMMANDS, Stage, moves_from


def _console_table() -> dict[str, list[str]]:
    script = (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    block = re.search(r"const FROM_STATUS = (\{.*?\});", script, re.DOTALL)
    assert block is not None, "console.js no longer declares FROM_STATUS"
    as_json = re.sub(r"^(\s*)([\w-]+):", r'\1"\2":', block.group(1), flags=re.MULTILINE)
    table: dict[str, list[str]] = json.loads(re.sub(r",(\s*)}", r"\1}", as_json))
    return table


def test_console_shows_the_commands_the_domain_allows_from_each_status() -> None:
    expected = {
        stage.value: [command.value for command in COMMANDS if moves_from(command, stage)]
        for stage in Stage
        if stage is not Stage.DELETED  # the console asks restore's clock guard itself
    }
    assert _console_table() == expected
    assert [c.value for c in COMMANDS if moves_from(c, Stage.DELETED)] == ["restore"]
