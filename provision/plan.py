"""What a run would do: one Change per resource, in Terraform's words (create, update, noop, delete)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KNOWN_AFTER_APPLY = "(known after apply)"


@dataclass
class Change:
    resource: str  # e.g. "security group"
    name: str  # the Azure name (or id) of the object
    action: str  # create | update | delete | noop | wait (deployment in progress) | drift | failed
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field → (old, new)
    actual: Any = None  # what `read` found (None: nothing)
    note: str = ""

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update", "delete")

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "name": self.name, "action": self.action,
                "fields": {k: {"old": o, "new": n} for k, (o, n) in self.fields.items()},
                **({"note": self.note} if self.note else {})}


def summary(changes: list[Change]) -> dict[str, int]:
    out = {"create": 0, "update": 0, "delete": 0, "noop": 0}  # plus wait / drift / failed when present
    for c in changes:
        out[c.action] = out.get(c.action, 0) + 1
    return out
