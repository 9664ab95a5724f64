"""`provision emulator coverage`: what the emulator emulates, from its routing tables; the README's table is that
command's markdown and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from provision.cli.emulator import emulator as emulator_cli
from provision.emulator import coverage

README = Path(__file__).resolve().parents[2] / "README.md"


def test_coverage_lists_the_routed_operations_per_service():
    ops = coverage.operations()
    by_service = {o["service"] for o in ops}
    assert {"Entra ID", "Microsoft Graph v1.0", "ARM Microsoft.Resources", "ARM Microsoft.Network",
            "ARM Microsoft.Storage", "ARM Microsoft.HDInsight", "Kafka REST proxy (HDInsight)"} <= by_service
    routed = {(o["path"], m) for o in ops for m in o["methods"]}
    assert ("/v1.0/directory/deletedItems/{segment}/restore", "POST") in routed
    assert ("/subscriptions/{subscription}/resources", "GET") in routed
    assert ("/{tenant}/oauth2/v2.0/token", "POST") in routed
    assert not any(o["path"].startswith("/_emulator") for o in ops)  # the admin API is not an Azure service


def test_the_cli_prints_it_as_text_and_json():
    runner = CliRunner()
    text = runner.invoke(emulator_cli, ["coverage", "--service", "network"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("ARM Microsoft.Network (") and "networkSecurityGroups/{nsg}" in text.output
    data = json.loads(runner.invoke(emulator_cli, ["coverage", "--format", "json"]).output)
    assert data["counts"] == coverage.summary()


def test_the_readme_table_is_current():
    text = README.read_text()
    start, end = text.index(coverage.README_START), text.index(coverage.README_END) + len(coverage.README_END)
    assert text[start:end] == coverage.markdown(), (
        "README's emulator coverage table is stale: replace it with `provision emulator coverage --format markdown`")
