"""Turn recorded Azure traffic into the project's own fidelity facts (tests/data/fidelity/*.json).

Run by hand when the reference recordings change; tests never run it and never read the recordings:

    python -m tests.fidelity.extract /path/to/recordings  [--out tests/data/fidelity]

For every recorded interaction it keeps what a client needs from Azure, in this project's format:
- the request: method, path + query (host dropped), JSON body (secrets are the recording's own placeholders);
- the response facts: status, the headers clients read (content type's media type; whether Location,
  Azure-AsyncOperation, Retry-After are present), every JSON key path of the body (`a.b`, `list[].c`), and the
  values of enum-like keys (provisioningState, status, kind, type, ...) by key path.
Each file names the recording it came from (repository, path, commit) — the provenance of every fact in it.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Recording → (provenance, reason to skip it entirely or None). Commits as in the reference MANIFEST.
SOURCES = {
    "test_app_create_idempotent.yaml": "73c0beac6f78fa2e6204d4f9ccdd5bb8aa060567",
    "test_app_credential.yaml": "fd3b3d8c19a107328a163d5d7a1c4a6c3f83cbcd",
    "test_service_principal_scenario.yaml": "11656feb155e8f7e710b25d04b0098c46732492b",
    "test_group_scenario.yaml": "72957308194b8c3180265105079f4d1abc32fd0c",
    "test_resource_group.yaml": "14af4d454d821fe044ff64f3c64cfb430fd30f0a",
    "test_network_extended_nsg.yaml": "08eff40b2f4e26bfb736d8dcb248c2899902d59e",
    "test_create_storage_account_v2.yaml": "059532daf6c4e59b28b94d194359e0a963d1c911",
    "test_renew_account_key.yaml": "14af4d454d821fe044ff64f3c64cfb430fd30f0a",
    "test_hdinsight_cluster_kafka_with_rest_proxy.yaml": "03dc841637627d108f5c2bca9dd7d48574162fdf",
    "test_account_show.yaml": "be95a6ccad48459ea8e10c423bdbb060b6016ad3",
}
MODULES = {"test_app_create_idempotent": "role", "test_app_credential": "role", "test_group_scenario": "role",
           "test_service_principal_scenario": "role", "test_resource_group": "resource",
           "test_network_extended_nsg": "network", "test_create_storage_account_v2": "storage",
           "test_renew_account_key": "storage", "test_hdinsight_cluster_kafka_with_rest_proxy": "hdinsight",
           "test_account_show": "profile"}
ENUM_KEYS = {"provisioningState", "status", "state", "kind", "type", "securityEnabled", "mailEnabled",
             "signInAudience", "servicePrincipalType", "accountEnabled", "access", "direction", "protocol",
             "clusterState", "osType", "tier", "accessTier", "nameAvailable", "reason", "@odata.type", "name",
             "keyName", "permissions", "regionType", "regionCategory", "code"}
# `name` is an enum only where it names a fixed thing (sku, role, key); elsewhere it is the caller's own name.
NAME_ENUM_PARENTS = ("sku", "keys[]", "roles[]")


def key_paths(body: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(body, dict):
        for k, v in body.items():
            if prefix.endswith("tags") or prefix.endswith("configurations.gateway"):
                continue  # user data / echoed request maps
            p = f"{prefix}.{k}" if prefix else k
            out.add(p)
            out |= key_paths(v, p)
    elif isinstance(body, list):
        for item in body:
            out |= key_paths(item, prefix + "[]")
    return out


def enums(body: Any, prefix: str = "") -> dict[str, list]:
    out: dict[str, set] = {}

    def walk(x: Any, p: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                q = f"{p}.{k}" if p else k
                if k in ENUM_KEYS and isinstance(v, (str, bool)) and (
                        k != "name" or p.endswith(NAME_ENUM_PARENTS)):
                    out.setdefault(q, set()).add(v)
                walk(v, q)
        elif isinstance(x, list):
            for item in x:
                walk(item, p + "[]")

    walk(body, prefix)
    return {k: sorted(v, key=str) for k, v in out.items()}


GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def identities(body: Any) -> dict[str, list[str]]:
    """Values a replay must map to the emulator's own: object ids / app ids (GUIDs) and storage keys, by path."""
    out: dict[str, list[str]] = {}

    def walk(x: Any, p: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                q = f"{p}.{k}" if p else k
                if isinstance(v, str) and (GUID.match(v) or (p.endswith("keys[]") and k == "value")):
                    out.setdefault(q, []).append(v)
                walk(v, q)
        elif isinstance(x, list):
            for item in x:
                walk(item, p + "[]")

    walk(body, "")
    return out


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def extract(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text())
    out = []
    for n, inter in enumerate(data["interactions"]):
        req, resp = inter["request"], inter["response"]
        url = urlsplit(req["uri"])
        headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in resp["headers"].items()}
        body = _json((resp.get("body") or {}).get("string"))
        facts: dict[str, Any] = {
            "n": n, "method": req["method"], "path": url.path + (f"?{url.query}" if url.query else ""),
            "host": url.hostname,
            "body": _json(req.get("body") if isinstance(req.get("body"), str) else None),
            "status": resp["status"]["code"],
            "headers": {
                **({"content-type": headers["content-type"].split(";")[0].strip().lower()}
                   if "content-type" in headers and (body is not None or resp["status"]["code"] in (201, 202))
                   else {}),
                **{h: True for h in ("location", "azure-asyncoperation", "retry-after") if h in headers},
            },
            "keys": sorted(key_paths(body)),
            "enums": enums(body),
            "ids": identities(body),
            # Where the recorded Location / Azure-AsyncOperation pointed (path only): later polls use it.
            "links": {h: urlsplit(headers[h]).path for h in ("location", "azure-asyncoperation")
                      if h in headers and urlsplit(headers[h]).path not in ("", "/")},
        }
        out.append(facts)
    name = path.name
    module = MODULES[path.stem]
    return {"_about": f"Facts extracted by tests/fidelity/extract.py from the Azure CLI recording {name} "
                      f"(Azure/azure-cli, src/azure-cli/azure/cli/command_modules/{module}/tests/latest/recordings/"
                      f"{name}, commit {SOURCES[name][:8]}): real Azure traffic. Request bodies are as recorded; "
                      f"response facts are status, headers clients read, JSON key paths and enum values.",
            "recording": name, "interactions": out}


# Microsoft's HDInsight ARM spec examples (Azure/azure-rest-api-specs, specification/hdinsight/resource-manager/
# Microsoft.HDInsight/[HDInsight/]stable/2021-06-01/examples/), replayed as one scenario in this order.
EXAMPLES = [  # (file, commit, method, path template, status to expect)
    ("GetHDInsightUsages.json", "0ed2a5b1", "GET", "/subscriptions/subid/providers/Microsoft.HDInsight/locations/"
     "{location}/usages", "200"),
    ("GetHDInsightCapabilities.json", "b3b509f0", "GET", "/subscriptions/subid/providers/Microsoft.HDInsight/"
     "locations/{location}/capabilities", "200"),
    ("HDI_Locations_ListBillingSpecs.json", "0d2dd06d", "GET", "/subscriptions/subid/providers/Microsoft.HDInsight/"
     "locations/{location}/billingSpecs", "200"),
    ("CreateKafkaClusterWithKafkaRestProxy.json", "f186684d", "PUT", "/subscriptions/subid/resourceGroups/"
     "{resourceGroupName}/providers/Microsoft.HDInsight/clusters/{clusterName}", "200"),
    ("GetLinuxHadoopCluster.json", "9c8a4c0a", "GET", "/subscriptions/subid/resourceGroups/{resourceGroupName}/"
     "providers/Microsoft.HDInsight/clusters/{clusterName}", "200"),
    ("HDI_Locations_CheckClusterNameAvailability.json", "90c52b49", "POST", "/subscriptions/subid/providers/"
     "Microsoft.HDInsight/locations/{location}/checkNameAvailability", "200"),
    ("HDI_Locations_ValidateClusterCreateRequest.json", "2275c3ea", "POST", "/subscriptions/subid/providers/"
     "Microsoft.HDInsight/locations/{location}/validateCreateRequest", "200"),
    ("DeleteLinuxHadoopCluster.json", "55334f9f", "DELETE", "/subscriptions/subid/resourceGroups/"
     "{resourceGroupName}/providers/Microsoft.HDInsight/clusters/{clusterName}", "202"),
]
# What the examples leave out or blank that a real request needs (each noted in the facts' _about).
EXAMPLE_FIXES = {
    "CreateKafkaClusterWithKafkaRestProxy.json": {"location": "southcentralus"},  # ARM requires a location
}
# The name check example shows a taken name: asked here for the cluster the scenario created.
EXAMPLE_OVERRIDES = {"HDI_Locations_CheckClusterNameAvailability.json": {"name": "cluster1"}}
# Kind-specific facts of another kind's example that a Kafka cluster cannot show (the Hadoop GET example).
NOT_FOR_KAFKA = {"GetLinuxHadoopCluster.json": {"properties.clusterDefinition.kind", "tags.key1"}}
# Where recorded Azure traffic contradicts an example, the recording wins: the create answers with the cluster as
# it starts (kind as sent, InProgress / Accepted, no connectivity endpoints yet), not in its final state.
CONTRADICTED = {"CreateKafkaClusterWithKafkaRestProxy.json": (
    "properties.connectivityEndpoints", "properties.clusterDefinition.kind", "properties.provisioningState",
    "properties.clusterState")}


def extract_examples(folder: Path) -> dict[str, Any]:
    out = []
    for n, (name, commit, method, template, status) in enumerate(EXAMPLES):
        ex = json.loads((folder / name).read_text())
        params = ex["parameters"]
        path = re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]).replace(" ", "").lower()
                      if m.group(1) == "location" else str(params[m.group(1)]), template)
        body = params.get("parameters")
        if isinstance(body, dict):
            body = {**EXAMPLE_FIXES.get(name, {}), **body, **EXAMPLE_OVERRIDES.get(name, {})}
        resp = ex["responses"][status]
        rbody = resp.get("body")
        headers = {h.lower(): True for h in (resp.get("headers") or {}) if h.lower() != "location"
                   or method == "DELETE"}  # the recorded create answers with Azure-AsyncOperation, not Location
        skip = NOT_FOR_KAFKA.get(name, set()) | {
            k for k in key_paths(rbody) | set(enums(rbody)) if k.startswith(CONTRADICTED.get(name, ("\0",)))}
        out.append({"n": n, "example": f"{name} (commit {commit})", "method": method,
                    "path": f"{path}?api-version={params['api-version']}", "host": "management.azure.com",
                    "body": body, "status": int(status), "headers": headers,
                    "keys": sorted(k for k in key_paths(rbody) if k not in skip),
                    "enums": {k: v for k, v in enums(rbody).items() if k not in skip and not k.startswith(
                        ("properties.clusterVersion", "properties.computeProfile.roles[].hardwareProfile"))},
                    "ids": {}, "links": {}})
    return {"_about": "Facts from Microsoft's HDInsight ARM spec examples (Azure/azure-rest-api-specs, "
                      "specification/hdinsight/resource-manager/Microsoft.HDInsight/[HDInsight/]stable/2021-06-01/"
                      "examples/, each interaction names its file and commit), replayed as one scenario: usages, "
                      "capabilities, billing specs, create the Kafka REST proxy cluster (the example's body plus "
                      "the location ARM requires), get it (against the Linux Hadoop GET example's keys, less its "
                      "kind and tags), check its name (the example's taken name replaced by the scenario's cluster), validate a create request, delete it. The create's "
                      "Location header is not checked: recorded Azure answers it with Azure-AsyncOperation.",
            "recording": "spec-examples/hdinsight-2021-06-01", "interactions": out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recordings", type=Path)
    parser.add_argument("--examples", type=Path, help="the HDInsight ARM spec examples folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "fidelity")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        facts = extract(args.recordings / name)
        target = args.out / re.sub(r"\.yaml$", ".json", name)
        target.write_text(json.dumps(facts, indent=1, sort_keys=False) + "\n")
        print(f"{target}: {len(facts['interactions'])} interactions")
    if args.examples:
        facts = extract_examples(args.examples)
        target = args.out / "spec_hdinsight_examples.json"
        target.write_text(json.dumps(facts, indent=1) + "\n")
        print(f"{target}: {len(facts['interactions'])} interactions")


if __name__ == "__main__":
    main()
