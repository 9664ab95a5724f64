"""The data dir records its schema version: an older one is migrated, a newer one refused with a clear message
(never silently misread)."""

from __future__ import annotations

import pytest
import requests

from provision.emulator import launcher
from provision.emulator.state import SCHEMA_VERSION, DataDirError, EmulatorState
from provision.emulator.store import Store


def test_a_fresh_data_dir_records_the_current_schema_version(tmp_path, emulator):
    state = EmulatorState(tmp_path)
    assert state.store.get_setting("schemaVersion") == SCHEMA_VERSION == state.schema_version
    health = requests.get(f"{emulator.url}/_emulator/health", verify=str(emulator.ca_cert)).json()
    assert health["schemaVersion"] == SCHEMA_VERSION


def test_a_data_dir_from_before_versioning_is_migrated_and_keeps_its_tenant(tmp_path):
    first = EmulatorState(tmp_path)
    tenant = first.boot.tenant_id
    first.store.execute("DELETE FROM settings WHERE name='schemaVersion'")  # as version 1 left it
    again = EmulatorState(tmp_path)
    assert again.schema_version == SCHEMA_VERSION and again.boot.tenant_id == tenant
    assert again.store.get_setting("schemaVersion") == SCHEMA_VERSION


def test_a_data_dir_from_a_newer_emulator_is_refused(tmp_path):
    EmulatorState(tmp_path).store.set_setting("schemaVersion", SCHEMA_VERSION + 1)
    with pytest.raises(DataDirError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this emulator's "
                                           rf"{SCHEMA_VERSION}.*Upgrade provision"):
        EmulatorState(tmp_path)
    assert Store(tmp_path / "state.sqlite3").get_setting("schemaVersion") == SCHEMA_VERSION + 1  # untouched
    # Started as a process (what `provision emulator start` does), the same sentence reaches the user.
    with pytest.raises(launcher.EmulatorError, match="newer than this emulator's") as e:
        launcher.start(tmp_path, timeout=30)
    assert "exited with code 2" in str(e.value)
