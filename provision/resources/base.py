"""The interface every resource kind declares, and the ownership vocabulary they share.

A resource kind is one object: a key, its Azure kind, what it depends on, and `read` / `diff` / `apply` /
`delete`. Actual state is Azure's wire form (camelCase JSON as plain dicts) plus two fields of our own:
`_ownership` (OURS, EXTERNAL) and, where one object stands for several, the parts. The engine derives order and
concurrency from `depends_on`; nothing else knows the graph.

Ownership, decided from Azure itself so that any machine reaches the same answer:
- OURS: made by this environment (ARM tags naming it; Entra objects found by this environment's uniqueName);
- EXTERNAL: named by id, or adopted with --adopt: only added to (a membership, our rules, our secret), never
  rewritten, never deleted;
- an object with the wanted name that is neither is a `conflict`: `up` stops before any write.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from provision.plan import Change

OURS, EXTERNAL = "ours", "external"


@dataclass
class Settling:
    """What `apply` returns when its dependants may go on before it is finished: `usable` is all they need (ids of
    objects whose operations have succeeded); `rest` finishes the step (e.g. the pollers' final reads) and gives
    the full state. The engine awaits `rest` before the run ends; its failure is the run's."""
    usable: Any
    rest: Awaitable[Any]


class Resource:
    key: str = ""  # the engine's name for it: "app", "group", …
    kind: str = ""  # Azure's word, shown to people: "security group"
    depends_on: tuple[str, ...] = ()
    # What `read` needs read first (default: all of depends_on). Reads that stand alone run all at once.
    read_after: tuple[str, ...] | None = None
    missing_hint: str = ""  # how a step command tells the user to create it first
    # The SDK modules `apply` needs: imported in the background once a read finds the resource missing or the
    # plan shows it writes (see engine.WarmUp)
    apply_imports: tuple[str, ...] = ()

    def label(self, ctx: Any) -> str:
        raise NotImplementedError

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        """Actual state (wire form) or None when absent."""
        raise NotImplementedError

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        raise NotImplementedError

    async def preflight(self, ctx: Any, actual: Any) -> None:
        """Read-only checks before any write that would make `apply` fail later (name availability, quota). Runs
        as soon as this kind's own state is read (`actual`), alongside the other reads; its verdict counts only
        when the plan has no blockers."""

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        """Perform the changes; returns the new actual state (what dependants receive), or `Settling`."""
        raise NotImplementedError

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        """`down`: delete what is ours; of an external object remove only what we added. Returns what was done."""
        return []

    def exists(self, actual: Any) -> bool:
        return actual is not None


def conflict(resource: str, name: str, what: str, *, by_id: str | None = None, rename: str | None = None) -> Change:
    """An object with the wanted name that this environment did not make: never adopted silently."""
    ways = [f"choose another name ({rename})" if rename else "choose another name",
            "pass --adopt to use it as it is (provision will only add to it and never delete it)"]
    if by_id:
        ways.append(f"or name it by id ({by_id})")
    return Change(resource, name, "conflict",
                  note=f"{what} exists but was not created by this environment; " + ", ".join(ways))


def other_environments(ctx: Any, name: str, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the Entra objects another provision environment made under the same display name: their uniqueName is
    `<display name>-<its environment key>`. They are that environment's, not in our way."""
    import re

    theirs = re.compile(re.escape(name) + r"-[0-9a-f]{8}")
    return [o for o in objects if not theirs.fullmatch(o.get("uniqueName") or "")]


def arm_owned(ctx: Any, tags: dict[str, str] | None) -> bool:
    """ARM objects this environment made carry its tags (the environment's name within its resource group)."""
    tags = tags or {}
    return tags.get("managed-by") == "provision" and tags.get("provision-environment") == ctx.spec.values["name"]


def wire(model: Any) -> Any:
    """An SDK model as Azure's wire JSON: msrest models serialize(); the TypeSpec models' as_dict() is wire form."""
    if model is None:
        return None
    if hasattr(model, "serialize"):
        return model.serialize(keep_readonly=True)
    return model.as_dict()


def props(doc: dict[str, Any] | None) -> dict[str, Any]:
    return (doc or {}).get("properties") or {}
