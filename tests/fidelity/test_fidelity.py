"""The emulator against real Azure: every recorded interaction of the kinds the toolkit and az use (Graph apps,
service principals, credentials, groups, members; ARM groups, NSGs, storage, HDInsight, locations, resource
listings) and Microsoft's HDInsight ARM spec examples, replayed from the project's own facts (tests/data/fidelity, extracted by tests/fidelity/extract.py),
comparing status, the headers clients read, JSON key paths and enum values."""

from __future__ import annotations

from tests.fidelity import replay

THRESHOLD = 0.98


def test_replayed_recordings_match_the_emulator(emulator, admin, capsys):
    results = replay.run_all(emulator, admin)
    text = replay.report(results)
    with capsys.disabled():
        print(f"\nfidelity against recorded Azure traffic:\n{text}")
    assert len(results) == len(list(replay.DATA.glob("*.json"))) >= 10
    assert all(r.checks > 0 for r in results)
    assert replay.ratio(results) >= THRESHOLD, text


def test_the_facts_name_their_source():
    for facts in replay.load_all():
        source = "Azure/azure-rest-api-specs" if facts["recording"].startswith("spec-examples/") else "Azure/azure-cli"
        assert source in facts["_about"]
        assert facts["recording"] in facts["_about"] or "spec examples" in facts["_about"]
        assert facts["interactions"], facts["recording"]
