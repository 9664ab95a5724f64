"""Replay the recorded Azure interactions (as facts in tests/data/fidelity) against the emulator and compare.

Each recording is replayed in order on a fresh emulator state. Ids the recording learned from Azure (object ids,
app ids, storage keys) are mapped to the emulator's own as responses arrive, and requests are rewritten with
them. Before a recording starts, what the az test harness had created out of band (resource groups, storage
accounts, the security group an HDInsight cluster names) is created on the emulator.

Checks per interaction: the status; each header clients read (content type, Location, Azure-AsyncOperation,
Retry-After); each JSON key path of the recorded body; each enum-like value. Where the recording shows a state
that depends on how long Azure took (polls of an operation, a resource read while it provisions), any status or
value the recording shows for that same URL counts as a match.

    python -m tests.fidelity.replay            # against a fresh emulator in a temporary data dir
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity"
RECORDED_SUB = "00000000-0000-0000-0000-000000000000"
POLL = re.compile(r"/(operations|operationresults|asyncoperations|azureasyncoperations)/", re.IGNORECASE)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
EXAMPLE_PASSWORD = "Examp1e-Passw0rd!"
# The recordings and spec examples create HDInsight 4.0 clusters, from before its retirement (31 March 2025).
FAST = {"lro_seconds": 0, "cluster_create_seconds": 0, "cluster_delete_seconds": 0, "retry_after_seconds": 0,
        "refuse_retired_versions": 0}


@dataclass
class Result:
    recording: str
    checks: int = 0
    matched: int = 0
    mismatches: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        self.checks += 1
        if ok:
            self.matched += 1
        else:
            self.mismatches.append(what)


def load_all() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))]


def _paths(body: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(body, dict):
        for k, v in body.items():
            p = f"{prefix}.{k}" if prefix else k
            out.add(p)
            out |= _paths(v, p)
    elif isinstance(body, list):
        for item in body:
            out |= _paths(item, prefix + "[]")
    return out


def _values(body: Any, path: str) -> list[Any]:
    """Every value at a key path (`a.b`, `list[].c`); keys may hold dots themselves (`@odata.type`)."""
    if path == "":
        return [body]
    if path.startswith("[]"):
        rest = path[2:].removeprefix(".")
        return [v for item in (body if isinstance(body, list) else []) for v in _values(item, rest)]
    if not isinstance(body, dict):
        return []
    out: list[Any] = []
    for k, v in body.items():
        if path == k:
            out.append(v)
        elif path.startswith(k) and path[len(k)] in ".[":
            out.extend(_values(v, path[len(k):].removeprefix(".")))
    return out


class Replayer:
    def __init__(self, info: Any, admin: Any):
        self.info, self.admin = info, admin
        self.verify = str(info.ca_cert)
        self.arm_token = self._token("https://management.azure.com/.default")
        self.graph_token = self._token("https://graph.microsoft.com/.default")

    def _token(self, scope: str) -> str:
        r = requests.post(f"{self.info.url}/{self.info.tenant_id}/oauth2/v2.0/token", verify=self.verify, data={
            "grant_type": "client_credentials", "client_id": self.info.client_id,
            "client_secret": self.info.client_secret, "scope": scope}, timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]

    # -- requests ---------------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, body: Any, graph: bool) -> requests.Response:
        token = self.graph_token if graph else self.arm_token
        headers = {"Authorization": f"Bearer {token}"}
        kw: dict[str, Any] = {}
        if body is not None:
            kw["json"] = body
        return requests.request(method, self.info.url + path, headers=headers, verify=self.verify, timeout=60, **kw)

    def _map(self, text: str, mapping: dict[str, str]) -> str:
        for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            text = re.sub(re.escape(old), new, text, flags=re.IGNORECASE)
        return text

    # -- what the az test harness made out of band --------------------------------------------------------------
    def _setup(self, facts: dict[str, Any], mapping: dict[str, str]) -> None:
        first_touch: dict[tuple[str, str], dict] = {}
        for it in facts["interactions"]:
            for kind, rx in (("rg", r"/resourcegroups/([^/?]+)"), ("sa", r"/storageaccounts/([^/?]+)")):
                m = re.search(rx, it["path"], re.IGNORECASE)
                if m:
                    first_touch.setdefault((kind, m.group(1).lower()), it)
        sub = self.info.subscription_id
        for (kind, name), it in first_touch.items():
            if kind != "rg":
                continue
            own_put = it["method"] == "PUT" and re.search(r"/resourcegroups/[^/?]+\?", it["path"], re.IGNORECASE)
            if not own_put:
                # As the az test harness's ResourceGroupPreparer makes them (its tags included).
                self._send("PUT", f"/subscriptions/{sub}/resourcegroups/{name}?api-version=2021-04-01",
                           {"location": "westus", "tags": {"product": "azurecli", "cause": "automation"}},
                           False).raise_for_status()
        for (kind, name), it in first_touch.items():
            if kind != "sa":
                continue
            if it["method"] == "PUT" and re.search(r"/storageaccounts/[^/?]+\?", it["path"], re.IGNORECASE):
                continue
            rg = re.search(r"/resourcegroups/([^/?]+)", it["path"], re.IGNORECASE)
            if rg is None:  # named only in a filter: find the group from any path naming both
                rg = next(re.search(r"/resourcegroups/([^/?]+)", i["path"], re.IGNORECASE)
                          for i in facts["interactions"]
                          if re.search(rf"/storageaccounts/{re.escape(name)}", i["path"], re.IGNORECASE))
            path = (f"/subscriptions/{sub}/resourceGroups/{rg.group(1)}/providers/Microsoft.Storage/storageAccounts/"
                    f"{name}?api-version=2023-01-01")
            kind = next((k for i in facts["interactions"] if i["method"] == "GET" and re.search(
                rf"/storageaccounts/{re.escape(name)}\?", i["path"], re.IGNORECASE) for k in i["enums"].get("kind", [])),
                "StorageV2")
            self._send("PUT", path, {"location": "southcentralus", "sku": {"name": "Standard_LRS"},
                                     "kind": kind}, False).raise_for_status()
            self._send("GET", path, None, False).raise_for_status()  # settles the creation (lro_seconds 0)
        for it in facts["interactions"]:  # storage accounts a cluster body names (spec examples): made, keys mapped
            body = it.get("body") if isinstance(it.get("body"), dict) else {}
            for acct in ((body.get("properties") or {}).get("storageProfile") or {}).get("storageaccounts", []):
                name = acct["name"].split(".")[0]
                rg = re.search(r"/resourcegroups/([^/?]+)", acct.get("resourceId") or it["path"], re.IGNORECASE)
                rg_name = rg.group(1) if rg else "rg1"
                if ("sa", name.lower()) in first_touch:
                    continue
                first_touch[("sa", name.lower())] = it
                if not self._send("HEAD", f"/subscriptions/{sub}/resourcegroups/{rg_name}?api-version=2021-04-01",
                                  None, False).status_code == 204:
                    self._send("PUT", f"/subscriptions/{sub}/resourcegroups/{rg_name}?api-version=2021-04-01",
                               {"location": "westus"}, False).raise_for_status()
                path = (f"/subscriptions/{sub}/resourceGroups/{rg_name}/providers/Microsoft.Storage/storageAccounts/"
                        f"{name}")
                self._send("PUT", path + "?api-version=2023-01-01", {
                    "location": "southcentralus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"},
                    False).raise_for_status()
                self._send("GET", path + "?api-version=2023-01-01", None, False).raise_for_status()
                keys = self._send("POST", path + "/listKeys?api-version=2023-01-01", None, False).json()["keys"]
                if acct.get("key") and acct["key"] not in mapping:
                    mapping[acct["key"]] = keys[0]["value"]
        for it in facts["interactions"]:
            group = ((it.get("body") or {}).get("properties") or {}).get("kafkaRestProperties", {}) \
                .get("clientGroupInfo", {}).get("groupId") if isinstance(it.get("body"), dict) else None
            if group and group not in mapping:
                made = self._send("POST", "/v1.0/groups", {
                    "displayName": "hdinsight-clients", "mailEnabled": False, "mailNickname": "hdiclients",
                    "securityEnabled": True}, True)
                made.raise_for_status()
                mapping[group] = made.json()["id"]

    # -- replay -----------------------------------------------------------------------------------------------
    def replay(self, facts: dict[str, Any]) -> Result:
        self.admin.reset()
        self.admin.configure(**FAST)
        result = Result(facts["recording"])
        # The az recordings scrub the test tenant's domain to example.com in bodies but not in URLs.
        mapping = {RECORDED_SUB: self.info.subscription_id, "AzureSDKTeam.onmicrosoft.com": "example.com"}
        if facts["recording"].startswith("spec-examples/"):
            # The examples' placeholders: subscription "subid", passwords blanked as "*" runs.
            mapping.update({"/subid/": f"/{self.info.subscription_id}/", "**********": EXAMPLE_PASSWORD,
                            "********": EXAMPLE_PASSWORD})
        self._setup(facts, mapping)
        by_path: dict[str, list[dict]] = {}
        for it in facts["interactions"]:
            by_path.setdefault(f"{it['method']} {it['path']}", []).append(it)
        for it in facts["interactions"]:
            graph = it["host"] == "graph.microsoft.com"
            path = self._map(it["path"], mapping)
            body = json.loads(self._map(json.dumps(it["body"]), mapping)) if it["body"] is not None else None
            r = self._send(it["method"], path, body, graph)
            try:
                got = r.json() if r.content else None
            except ValueError:
                got = None
            where = f"{facts['recording']}#{it['n']} {it['method']} {it['path'][:90]}"
            same_url = by_path[f"{it['method']} {it['path']}"]
            timing = bool(POLL.search(it["path"])) or len(same_url) > 1
            statuses = {i["status"] for i in same_url} if timing else {it["status"]}
            result.check(r.status_code in statuses, f"{where}: status {r.status_code}, recorded {sorted(statuses)}")
            # The operation may be further along here than when Azure was recorded: compare with a recorded answer
            # of the same status for this URL (a finished poll has no Location, a running one has).
            ref = next((i for i in [it, *same_url] if i["status"] == r.status_code), it)
            for h, v in ref["headers"].items():
                if h == "content-type":
                    mine = r.headers.get("content-type", "").split(";")[0].strip().lower()
                    result.check(mine == v, f"{where}: content-type {mine!r}, recorded {v!r}")
                else:
                    # Retry-After: the emulator sends it where Azure does; a recording may still show it absent.
                    result.check(h in {k.lower() for k in r.headers}, f"{where}: header {h} missing")
            mine_paths = _paths(got)
            for p in ref["keys"]:
                result.check(p in mine_paths, f"{where}: key {p} missing")
            for p, values in ref["enums"].items():
                allowed = set(map(str, values))
                if timing:
                    for other in same_url:
                        allowed |= set(map(str, other["enums"].get(p, [])))
                mine = {str(v) for v in _values(got, p)}
                if "[]" in p:  # a list: the values Azure showed are among the emulator's (it may list more)
                    result.check(set(map(str, values)) <= mine,
                                 f"{where}: {p} = {sorted(mine)}, recorded {sorted(map(str, values))}")
                    continue
                result.check(bool(mine) and mine <= allowed,
                             f"{where}: {p} = {sorted(mine)}, recorded {sorted(allowed)}")
            for h, recorded in it.get("links", {}).items():
                if h in {k.lower() for k in r.headers}:
                    mine_link = requests.utils.urlparse(r.headers[h]).path
                    if recorded not in mapping and mine_link:
                        mapping[recorded] = mine_link
            for p, values in it.get("ids", {}).items():
                for old, new in zip(values, _values(got, p)):
                    if isinstance(new, str) and old.lower() not in {k.lower() for k in mapping}:
                        mapping[old] = new
        return result


def run_all(info: Any, admin: Any) -> list[Result]:
    rep = Replayer(info, admin)
    return [rep.replay(f) for f in load_all()]


def report(results: list[Result]) -> str:
    lines = [f"{'recording':<50} {'checks':>7} {'match':>7} {'ratio':>7}"]
    for r in results:
        lines.append(f"{r.recording:<50} {r.checks:>7} {r.matched:>7} {r.matched / max(r.checks, 1):>7.1%}")
    total, matched = sum(r.checks for r in results), sum(r.matched for r in results)
    lines.append(f"{'total':<50} {total:>7} {matched:>7} {matched / max(total, 1):>7.1%}")
    for r in results:
        lines += [f"  - {m}" for m in r.mismatches]
    return "\n".join(lines)


def ratio(results: list[Result]) -> float:
    return sum(r.matched for r in results) / max(sum(r.checks for r in results), 1)


def main() -> None:
    import tempfile

    from provision.emulator import launcher

    with tempfile.TemporaryDirectory() as d:
        info = launcher.start(d)
        try:
            print(report(run_all(info, launcher.Admin(info))))
        finally:
            launcher.stop(d)


if __name__ == "__main__":
    main()
