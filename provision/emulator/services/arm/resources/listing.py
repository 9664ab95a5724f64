"""Generic views over every emulated ARM resource: `GET .../resources` with ARM's OData `$filter` / `$expand`,
and `POST .../exportTemplate`. No HTTP here.

Any provider's top-level resources are found the same way (documents whose id is `.../providers/{ns}/{type}/{name}`
and which carry a `type`), so a provider added later (Key Vault, ...) is listed and exported with no change here.

`$filter` (ARM's documented subset): `resourceType eq`, `name eq`, `resourceGroup eq`, `location eq`,
`tagName eq` [`and tagValue eq`], `tagValue eq`, `substringof('x', name)`, `startswith(tagName, 'x')`, combined with
`and` / `or` and parentheses. Names, types, groups and tag names compare case-insensitively, tag values exactly.
`$expand`: `createdTime`, `changedTime`, `provisioningState`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Callable

from provision.emulator.state import EmulatorState
from provision.emulator.wire import ArmError

Predicate = Callable[[dict[str, Any]], bool]
_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\()|(\))|(,)|([A-Za-z_][\w/.]*))")
EXPANDABLE = {"createdtime": "createdTime", "changedtime": "changedTime", "provisioningstate": "provisioningState"}
_FIELDS = {"resourcetype", "name", "resourcegroup", "location", "tagname", "tagvalue"}
# Read-only properties left out of an exported template (ARM exports what a PUT can send).
_READ_ONLY = {"provisioningState", "resourceGuid", "etag", "creationTime", "primaryEndpoints", "primaryLocation",
              "statusOfPrimary", "secondaryLocation", "statusOfSecondary", "clusterState", "clusterId",
              "connectivityEndpoints", "quotaInfo", "createdDate", "subnets", "securityRules",
              "defaultSecurityRules", "networkInterfaces", "keyCreationTime", "lastModifiedTime"}


def _bad_filter(text: str, why: str) -> ArmError:
    return ArmError(f"Invalid $filter '{text}' specified in the query string: {why}",
                    code="InvalidFilterInQueryString")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _bad_filter(text, f"unexpected text at position {pos}.")
        pos = m.end()
        s, lp, rp, comma, word = m.groups()
        out.append(("str", s[1:-1].replace("''", "'")) if s is not None else ("(", "(") if lp else
                   (")", ")") if rp else (",", ",") if comma else ("word", word))
    return out


def _resource_group(doc: dict[str, Any]) -> str:
    parts = doc["id"].split("/")
    return parts[4] if len(parts) > 4 else ""


class _Parser:
    """expr := and_expr ('or' and_expr)*; and_expr := term ('and' term)*; term := '(' expr ')' | comparison |
    substringof(str, name) | startswith(field, str)."""

    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def parse(self) -> Predicate:
        pred = self._or()
        if self.i != len(self.toks):
            raise _bad_filter(self.text, f"unexpected '{self.toks[self.i][1]}'.")
        return pred

    def _peek_word(self, word: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i][0] == "word" and self.toks[self.i][1].lower() == word

    def _take(self, kind: str) -> str:
        if self.i >= len(self.toks) or self.toks[self.i][0] != kind:
            raise _bad_filter(self.text, f"expected {kind}.")
        self.i += 1
        return self.toks[self.i - 1][1]

    def _or(self) -> Predicate:
        preds = [self._and()]
        while self._peek_word("or"):
            self.i += 1
            preds.append(self._and())
        return preds[0] if len(preds) == 1 else (lambda doc: any(p(doc) for p in preds))

    def _and(self) -> Predicate:
        terms = [self._term()]
        while self._peek_word("and"):
            self.i += 1
            terms.append(self._term())
        # `tagName eq 'a' and tagValue eq 'b'`: one tag with that name *and* that value.
        names = [v for t, v in terms if t == "tagname"]
        values = [v for t, v in terms if t == "tagvalue"]
        others = [v for t, v in terms if t not in ("tagname", "tagvalue")]

        def pred(doc: dict[str, Any]) -> bool:
            tags = doc.get("tags") or {}
            if names or values:
                ok = any(all(k.lower() == n.lower() for n in names) and all(v == val for val in values)
                         for k, v in tags.items())
                if not ok:
                    return False
            return all(p(doc) for p in others)

        return pred

    def _term(self) -> tuple[str, Any]:
        """("pred", predicate), or ("tagname" | "tagvalue", value) for `_and` to pair up."""
        if self.i < len(self.toks) and self.toks[self.i][0] == "(":
            self.i += 1
            inner = self._or()
            self._take(")")
            return ("pred", inner)
        word = self._take("word")
        low = word.lower()
        if low == "substringof":
            self._take("(")
            needle = self._take("str")
            self._take(",")
            field = self._take("word").lower()
            self._take(")")
            if field != "name":
                raise _bad_filter(self.text, "substringof applies to 'name' only.")
            return ("pred", lambda doc: needle.lower() in doc["name"].lower())
        if low == "startswith":
            self._take("(")
            field = self._take("word").lower()
            self._take(",")
            prefix = self._take("str")
            self._take(")")
            if field != "tagname":
                raise _bad_filter(self.text, "startswith applies to 'tagName' only.")
            return ("pred", lambda doc: any(k.lower().startswith(prefix.lower()) for k in (doc.get("tags") or {})))
        if low not in _FIELDS:
            raise _bad_filter(self.text, f"the emulator filters on resourceType, name, resourceGroup, location, "
                                         f"tagName and tagValue, not '{word}'.")
        op = self._take("word").lower()
        if op != "eq":
            raise _bad_filter(self.text, f"operator '{op}' is not supported; use 'eq'.")
        value = self._take("str")
        if low in ("tagname", "tagvalue"):
            return (low, value)
        getter = {"resourcetype": lambda d: d["type"], "name": lambda d: d["name"],
                  "resourcegroup": _resource_group, "location": lambda d: d.get("location", "")}[low]
        return ("pred", lambda doc: getter(doc).lower() == value.lower())


def parse_filter(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda doc: True
    return _Parser(text).parse()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def top_level(state: EmulatorState, sub: str, rg: str | None = None) -> list[tuple[dict[str, Any], float, float]]:
    """(document, created, updated) of every top-level resource in the subscription (or one group)."""
    scope = f"/subscriptions/{sub}/resourcegroups/".lower()
    if rg is not None:
        scope += rg.lower()
        rows = state.store.execute("SELECT body, created, updated FROM objects WHERE scope=? OR scope LIKE ? "
                                   "ESCAPE '\\' ORDER BY created, id",
                                   (scope, _like(scope + "/") + "%")).fetchall()
    else:
        rows = state.store.execute("SELECT body, created, updated FROM objects WHERE scope LIKE ? ESCAPE '\\' "
                                   "ORDER BY created, id", (_like(scope) + "%",)).fetchall()
    out = []
    for row in rows:
        doc = json.loads(row["body"])
        rid, rtype = str(doc.get("id", "")), doc.get("type")
        if not isinstance(rtype, str) or rtype.count("/") != 1 or "/providers/" not in rid:
            continue
        if rid.lower().split("/providers/", 1)[1].count("/") != 2:
            continue
        out.append((doc, row["created"], row["updated"]))
    return out


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse_expand(text: str | None) -> list[str]:
    if not text:
        return []
    out = []
    for part in text.split(","):
        name = EXPANDABLE.get(part.strip().lower())
        if name is None:
            raise ArmError(f"The value '{part.strip()}' of query parameter '$expand' is not valid. The supported "
                           f"values are 'createdTime', 'changedTime' and 'provisioningState'.",
                           code="InvalidExpandQueryParameter")
        out.append(name)
    return out


def generic(doc: dict[str, Any], created: float, updated: float, expand: list[str]) -> dict[str, Any]:
    """The generic shape ARM lists: id, name, type, sku?, kind?, location, managedBy?, tags?, identity?, and the
    expanded fields."""
    item = {k: doc[k] for k in ("id", "name", "type", "sku", "kind", "location", "managedBy", "tags", "identity")
            if k in doc and doc[k] is not None}
    if "createdTime" in expand:
        item["createdTime"] = _iso(created)
    if "changedTime" in expand:
        item["changedTime"] = _iso(updated)
    if "provisioningState" in expand:
        item["provisioningState"] = (doc.get("properties") or {}).get("provisioningState", "Succeeded")
    return item


def list_resources(state: EmulatorState, sub: str, rg: str | None, filter_: str | None, expand: str | None,
                   top: int | None) -> list[dict[str, Any]]:
    pred = parse_filter(filter_)
    fields = parse_expand(expand)
    found = [generic(doc, c, u, fields) for doc, c, u in top_level(state, sub, rg) if pred(doc)]
    return found[:top] if top else found


# -- exportTemplate ---------------------------------------------------------------------------------------------
def _api_version_of(rtype: str) -> str:
    from provision.emulator.services.arm.resources.models import PROVIDERS

    ns, _, name = rtype.partition("/")
    versions = next((v for n, types in PROVIDERS.items() if n.lower() == ns.lower()
                     for t, v in types.items() if t.lower() == name.lower()), None)
    return versions[-1] if versions else "2021-04-01"


def _writable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _writable(v) for k, v in value.items() if k not in _READ_ONLY and not k.startswith("_")}
    if isinstance(value, list):
        return [_writable(v) for v in value]
    return value


def export_template(state: EmulatorState, sub: str, rg: str, body: dict[str, Any]) -> dict[str, Any]:
    """ARM's `exportTemplate` answer (api-version 2021-04-01 shape, as recorded): {"template": {...}} with one
    resource per top-level resource of the group that `resources` selects ("*" or ids)."""
    wanted = body.get("resources") or ["*"]
    if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
        raise ArmError("The request content was invalid: 'resources' must be a list of resource ids or '*'.",
                       code="InvalidRequestContent")
    everything = "*" in wanted
    ids = {w.lower() for w in wanted}
    resources = []
    for doc, _c, _u in top_level(state, sub, rg):
        if not everything and doc["id"].lower() not in ids:
            continue
        item: dict[str, Any] = {"type": doc["type"], "apiVersion": _api_version_of(doc["type"]),
                                "name": doc["name"]}
        for k in ("location", "tags", "sku", "kind", "identity"):
            if doc.get(k) is not None:
                item[k] = doc[k]
        item["properties"] = _writable(doc.get("properties") or {})
        resources.append(item)
    return {"template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                         "contentVersion": "1.0.0.0", "parameters": {}, "variables": {}, "resources": resources}}
