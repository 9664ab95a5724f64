#!/usr/bin/env python3
"""A standalone client for the HDInsight Kafka REST proxy: Microsoft's sample flow, done correctly.

It needs only azure-identity and requests (not the `provision` package), so it can be copied into any project:

    python scripts/example_client.py client.env        # a dotenv file, e.g. from `provision access grant --out`
    python scripts/example_client.py                   # or the same variables in the environment

Variables: KAFKAREST_ENDPOINT, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, and optionally
AZURE_AUTHORITY_HOST (other clouds, the emulator), PROVISION_CA_BUNDLE or REQUESTS_CA_BUNDLE (a private CA),
KAFKAREST_SCOPE (default https://hib.azurehdinsight.net/.default).

The flow of Microsoft's sample (learn.microsoft.com/azure/hdinsight/kafka/rest-proxy), with its flaws fixed:
  1. token for scope https://hib.azurehdinsight.net/.default — azure-identity caches it and renews it before it
     expires, so long runs keep working (the sample gets one token and uses it forever);
  2. create a topic, then poll the topic list until it shows up, with a timeout (the sample sleeps 30 s a round
     and never gives up);
  3. produce six records of different JSON types in one request;
  4. consume partition 0 page by page, following the NextOffset response header — a *string*, parsed to an int
     here (the sample compares it with an int, which never matches);
  5. read the partitions' metadata; 6. delete the topic (an extension some proxies do not offer).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time
from urllib.parse import urlsplit

import requests
from azure.identity import ClientSecretCredential

DEFAULT_SCOPE = "https://hib.azurehdinsight.net/.default"
WELL_KNOWN_AUTHORITIES = {"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
                          "login.microsoft.com", "login.windows.net"}

TOPIC_CONFIG = {"partition_count": 1, "replication_factor": 1,
                "topic_properties": {"retention.ms": 604800000, "min.insync.replicas": "1"}}
RECORDS = {"records": [
    {"key": "key1", "value": "**********"},
    {"value": 5, "partition": 0},
    {"value": 3.14},
    {"value": {"id": 1, "name": "HDInsight Kafka REST proxy"}},
    {"value": [{"id": 1, "name": "HDInsight Kafka REST proxy 1"},
               {"id": 2, "name": "HDInsight Kafka REST proxy 2"},
               {"id": 3, "name": "HDInsight Kafka REST proxy 3"}]},
    {"value": {"infomation": {"id": 1, "name": "HDInsight Kafka REST proxy"}, "sort": "true"}},
]}


def read_dotenv(path: str) -> dict[str, str]:
    """KEY=value lines (with optional `export` and quotes); comments and blank lines are skipped."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


class RestProxy:
    def __init__(self, settings: dict[str, str]):
        self.endpoint = settings["KAFKAREST_ENDPOINT"].rstrip("/")
        self.scope = settings.get("KAFKAREST_SCOPE") or DEFAULT_SCOPE
        ca = settings.get("PROVISION_CA_BUNDLE") or settings.get("REQUESTS_CA_BUNDLE")
        self.verify = ca or True
        authority = settings.get("AZURE_AUTHORITY_HOST") or "https://login.microsoftonline.com"
        host = urlsplit(authority if "://" in authority else f"https://{authority}").hostname
        self.credential = ClientSecretCredential(
            settings["AZURE_TENANT_ID"], settings["AZURE_CLIENT_ID"], settings["AZURE_CLIENT_SECRET"],
            authority=authority,
            # msal vets unknown authorities (the emulator, private clouds) with login.microsoftonline.com: skip it.
            disable_instance_discovery=host not in WELL_KNOWN_AUTHORITIES,
            connection_verify=self.verify)
        self.session = requests.Session()

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        # get_token returns the cached token until it is about to expire, then a new one.
        token = self.credential.get_token(self.scope).token
        response = self.session.request(method, f"{self.endpoint}/v1/{path}", timeout=30, verify=self.verify,
                                        headers={"Authorization": f"Bearer {token}"}, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} /v1/{path} failed: {response.status_code} {response.text[:300]}")
        return response


def wait_for_topic(proxy: RestProxy, topic: str, timeout: float) -> float:
    started = time.monotonic()
    delay = 0.2
    while topic not in proxy.call("GET", "metadata/topics").json().get("topics", []):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"topic {topic} was not listed within {timeout:g}s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    return time.monotonic() - started


def consume_all(proxy: RestProxy, topic: str, partition: int = 0, count: int = 2) -> list[dict]:
    offset, records = 0, []
    while True:
        response = proxy.call("GET", f"consumer/topics/{topic}/partitions/{partition}/offsets/{offset}",
                              params={"count": count})
        page = response.json().get("records", [])
        records.extend(page)
        for record in page:
            print(f"  offset {record['offset']}: key={json.dumps(record.get('key'))} "
                  f"value={json.dumps(record['value'])}")
        # NextOffset is an HTTP header, hence a string: parse it before comparing.
        header = response.headers.get("NextOffset")
        next_offset = int(header) if header is not None else offset + len(page)
        if not page or next_offset == offset:
            return records
        offset = next_offset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_file", nargs="?", help="dotenv file with the client settings (default: environment)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the new topic")
    parser.add_argument("--keep-topic", action="store_true", help="do not delete the topic at the end")
    args = parser.parse_args()

    settings = dict(os.environ)
    if args.env_file:
        settings.update(read_dotenv(args.env_file))
    missing = [k for k in ("KAFKAREST_ENDPOINT", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
               if not settings.get(k)]
    if missing:
        print(f"missing settings: {', '.join(missing)}", file=sys.stderr)
        return 2

    proxy = RestProxy(settings)
    topic = "hello_topic_" + "".join(random.choices(string.ascii_lowercase, k=7))
    try:
        proxy.call("PUT", f"topics/{topic}", json=TOPIC_CONFIG)
        print(f"created topic {topic}; listed after {wait_for_topic(proxy, topic, args.timeout):.1f}s")
        proxy.call("POST", f"producer/topics/{topic}", json=RECORDS)
        print(f"produced {len(RECORDS['records'])} records")
        print("consumed:")
        consumed = consume_all(proxy, topic)
        print(f"consumed {len(consumed)} records")
        partitions = proxy.call("GET", f"metadata/topics/{topic}/partitions").json()
        print(f"partitions: {json.dumps(partitions)}")
        partition = proxy.call("GET", f"metadata/topics/{topic}/partitions/0").json()
        print(f"partition 0: offsets {partition['earliest_offset']}..{partition['latest_offset']}")
        if not args.keep_topic:
            proxy.call("DELETE", f"topics/{topic}")
            print(f"deleted topic {topic}")
    except Exception as exc:  # a sample: report and fail, without a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        proxy.credential.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
