"""Every command has help with an example and is shown in the README."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from ccnews.cli import cli
from conftest import REPO

README = (REPO / "README.md").read_text("utf-8")


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


ALL = sorted(commands(cli))


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_command_has_help_with_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert re.search(r"Examples?\b[^\n]*:", result.output)


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_command_is_in_readme(path):
    assert re.search(r"ccnews(\s+--?\S+(\s+\S+)?)*\s+" + r"\s+".join(path) + r"\b", README), " ".join(path)


def test_readme_opens_with_install_and_test_commands():
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, re.S)
    assert "ccnews demo" in blocks[0]
    assert "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, re.S)
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    for line in blocks[1].strip().splitlines():
        assert line.strip() in ci
