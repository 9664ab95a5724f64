"""Where the emulator keeps its files, and the knobs that shape its timing.

Timing knobs (LRO durations, token lifetime, membership propagation) live in the store's settings table so the
admin API can change them at run time (tests shorten them); environment variables give their initial values.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

DATA_DIR_ENV = "PROVISION_EMULATOR_DIR"


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("provision")) / "emulator"


@dataclass
class Timing:
    """Durations in seconds. Defaults are short so a newcomer's first run finishes quickly; real Azure takes
    ~15 minutes for a cluster."""

    lro_seconds: float = 2.0  # network / storage / resource group operations
    cluster_create_seconds: float = 10.0  # HDInsight create, walked through Azure's clusterState values
    cluster_delete_seconds: float = 3.0
    retry_after_seconds: int = 1  # Retry-After sent on LRO responses (integer: kiota parses it with int())
    token_lifetime_seconds: int = 3599
    membership_propagation_seconds: float = 5.0  # bound for group membership changes to reach the REST proxy
    topic_visibility_seconds: float = 0.5  # a new topic appears in /v1/metadata/topics after this delay
    core_quota: int = 400  # regional HDInsight core quota ("usages")
    # 1: creating a retired HDInsight version (4.0, 5.0) is refused, as Azure does since 31 March 2025; 0 replays
    # recordings made before the retirement (tests/fidelity).
    refuse_retired_versions: int = 1

    @classmethod
    def from_env(cls) -> "Timing":
        t = cls()
        for f in fields(cls):
            raw = os.environ.get(f"PROVISION_EMULATOR_{f.name.upper()}")
            if raw is not None:
                setattr(t, f.name, type(getattr(t, f.name))(float(raw)))
        return t

    def update(self, values: dict) -> None:
        known = {f.name: f for f in fields(self)}
        for k, v in values.items():
            if k not in known:
                raise KeyError(k)
            setattr(self, k, type(getattr(self, k))(v))

    def as_dict(self) -> dict:
        return asdict(self)
