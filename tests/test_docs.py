"""Every command has help with an example, help for each option, and a place in the README.

One test per command family (a top-level command with its subcommands), so the test count
says something about behaviour rather than about the number of commands.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner
from helpers import REPO

from ccnews.cli import cli

README = (REPO / "README.md").read_text("utf-8")


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


ALL = sorted(commands(cli), key=lambda c: c[0])
FAMILIES = sorted({path[0] for path, _ in ALL})


def problems_of(path: tuple[str, ...], cmd: click.Command) -> list[str]:
    name = " ".join(path)
    found = []
    result = CliRunner().invoke(cli, [*path, "--help"])
    if result.exit_code != 0:
        found.append(f"{name} --help exits {result.exit_code}")
    elif not re.search(r"Examples?\b[^\n]*:", result.output):
        found.append(f"{name} --help has no example")
    found += [f"{name} {param.opts[0]} has no help text" for param in cmd.params
              if isinstance(param, click.Option) and not param.help and param.name != "help"]
    if not re.search(r"ccnews(\s+--?\S+(\s+\S+)?)*\s+" + r"\s+".join(path) + r"\b", README):
        found.append(f"{name} is not in the README")
    return found


@pytest.mark.parametrize("family", FAMILIES)
def test_command_family_is_documented(family):
    members = [(path, cmd) for path, cmd in ALL if path[0] == family]
    assert members
    problems = [p for path, cmd in members for p in problems_of(path, cmd)]
    assert not problems, "\n".join(problems)


def test_readme_opens_with_install_and_test_commands():
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, re.S)
    assert "ccnews demo" in blocks[0]
    assert "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, re.S)
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    for line in blocks[1].strip().splitlines():
        assert line.strip() in ci
