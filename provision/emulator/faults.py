"""Deterministic fault injection: throttling, outages, dropped connections and latency, per route.

A rule matches requests by method and a regular expression on the path; it fires for a number of matches
(`count`), after letting some through (`skip`), with a seeded probability — so a test can say "the first two
member additions get 429 with Retry-After: 1" and see exactly that every run.

A status or drop rule fires before the handler runs (the request is refused and nothing changes) unless `after` is
true: then the handler runs and commits, and only its response is replaced by the error or lost with the dropped
connection — "the write was applied but the caller never heard", the case that makes non-idempotent calls
(addPassword, POST creates) dangerous to retry blindly.

A request held by a latency rule is abandoned (its connection closed, nothing applied) when the rule goes away
first — removed, cleared or reset — so a long hold never lands in whatever comes after (the next test's state).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("status", "drop", "latency")


@dataclass
class FaultRule:
    action: str  # status | drop | latency
    path: str = ".*"  # regular expression searched in the request path
    methods: list[str] = field(default_factory=list)  # empty: every method
    status: int = 503
    code: str | None = None  # the service error code to send with `status`
    message: str | None = None
    retry_after: int | None = None  # seconds, sent as an integer Retry-After header
    latency_ms: int = 0
    count: int | None = None  # how many times it fires; None: unlimited
    skip: int = 0  # matching requests to let through first
    probability: float = 1.0
    seed: int = 0
    after: bool = False  # status/drop only: let the handler run and commit first, then lose or replace its answer
    id: int = 0
    fired: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        if self.action == "status" and not 400 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if not isinstance(self.after, bool):
            raise ValueError("after must be true or false")
        if self.after and self.action == "latency":
            raise ValueError("after applies to status and drop rules, not latency")
        if not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        self._removed = False  # set when the rule is removed, cleared or reset: held requests are abandoned
        try:
            self._re = re.compile(self.path)
        except re.error as e:
            raise ValueError(f"path is not a valid regular expression: {e}") from None
        self._rng = random.Random(self.seed)
        self.methods = [m.upper() for m in self.methods]

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class Faults:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> FaultRule:
        allowed = {f for f in FaultRule.__dataclass_fields__ if f not in ("id", "fired", "seen")}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        rule = FaultRule(**spec)
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            for r in self._rules:
                r._removed = True
            self._rules.clear()

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            for r in self._rules:
                if r.id == rule_id:
                    r._removed = True
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    @staticmethod
    async def hold(rule: FaultRule) -> bool:
        """Wait out a latency rule's delay; False as soon as the rule is removed (the request is to be abandoned)."""
        end = time.monotonic() + rule.latency_ms / 1000
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))
            if rule._removed:
                return False
        return True

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.public() for r in self._rules]

    def match(self, method: str, path: str) -> list[FaultRule]:
        """Rules that fire for this request (at most one status/drop rule, plus any latency rules)."""
        fired: list[FaultRule] = []
        terminal = False
        with self._lock:
            for r in self._rules:
                if r.methods and method not in r.methods:
                    continue
                if not r._re.search(path):
                    continue
                if r.action != "latency" and terminal:
                    continue
                r.seen += 1
                if r.seen <= r.skip:
                    continue
                if r.count is not None and r.fired >= r.count:
                    continue
                if r.probability < 1.0 and r._rng.random() >= r.probability:
                    continue
                r.fired += 1
                fired.append(r)
                if r.action != "latency":
                    terminal = True
        return fired
