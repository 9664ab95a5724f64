"""`provision kafka …`: call the Kafka REST proxy (topics, produce, consume, partitions, brokers, status).

Thin commands over provision.kafkarest. Configuration comes from `--config FILE` (dotenv or JSON), flags and the
environment (see provision/clientconfig.py). The Azure SDKs are imported inside the commands, so `provision --help`
stays fast.

Exit codes: 0 ok; 1 the operation failed ("Error: ..." on one line); 2 bad input (one line naming the field, the
rule and the fix).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import click

_OVERRIDES = "provision.kafka.overrides"


class CliError(click.ClickException):
    """One line on stderr, "Error: ...", with the exit code the library error carries (1 failed, 2 bad input)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


def handle_errors(fn: Callable) -> Callable:
    """Turn the library's errors into CliError; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from provision.errors import ProvisionError

        try:
            return fn(*args, **kwargs)
        except ProvisionError as exc:
            raise CliError(str(exc), getattr(exc, "exit_code", 1)) from None

    return wrapper


def bad_input(field: str, rule: str, fix: str) -> CliError:
    return CliError(f"{field}: {rule}; {fix}", exit_code=2)


# -- connection options -------------------------------------------------------------------------------------------
def _store(key: str) -> Callable:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:  # ctx.meta is shared by nested contexts: a group's option reaches its commands
            ctx.meta.setdefault(_OVERRIDES, {})[key] = value

    return callback


_CONNECTION_OPTIONS = [
    ("--config", "config_file", "Client configuration: a dotenv or JSON file with KAFKAREST_ENDPOINT, AZURE_TENANT_ID, "
     "AZURE_CLIENT_ID, AZURE_CLIENT_SECRET... (what `provision access grant --out` writes)."),
    ("--endpoint", "KAFKAREST_ENDPOINT", "REST proxy URL, https://<cluster>-kafkarest.azurehdinsight.net "
     "[env KAFKAREST_ENDPOINT]."),
    ("--tenant-id", "AZURE_TENANT_ID", "Directory (tenant) id [env AZURE_TENANT_ID]."),
    ("--client-id", "AZURE_CLIENT_ID", "Client app id; its secret is read from AZURE_CLIENT_SECRET or the config "
     "file, never from a flag [env AZURE_CLIENT_ID]."),
    ("--client-certificate", "AZURE_CLIENT_CERTIFICATE_PATH", "PEM/PKCS12 certificate with private key "
     "[env AZURE_CLIENT_CERTIFICATE_PATH]."),
    ("--authority-host", "AZURE_AUTHORITY_HOST", "Entra ID host for other clouds or the emulator "
     "[env AZURE_AUTHORITY_HOST]."),
    ("--ca-bundle", "PROVISION_CA_BUNDLE", "CA bundle to trust, e.g. the emulator's ca.pem "
     "[env PROVISION_CA_BUNDLE, REQUESTS_CA_BUNDLE]."),
    ("--scope", "KAFKAREST_SCOPE",
     "Token scope [env KAFKAREST_SCOPE; default https://hib.azurehdinsight.net/.default]."),
]


def connection_options(fn: Callable) -> Callable:
    """Add the options that say where the proxy is and who calls it; they are read by `build_client()`."""
    for flag, key, help_text in reversed(_CONNECTION_OPTIONS):
        kind = click.Path(dir_okay=False) if flag in ("--config", "--client-certificate", "--ca-bundle") else str
        fn = click.option(flag, type=kind, expose_value=False, callback=_store(key), help=help_text,
                          metavar="FILE" if kind is not str else "TEXT")(fn)
    return fn


def output_option(fn: Callable) -> Callable:
    from provision.cli.options import output_option as shared

    return shared(fn)


def load_config() -> Any:
    from provision import clientconfig
    from provision.cli.options import quiet_sdk_logging

    quiet_sdk_logging()  # a failed token is one line (the command's error), not azure-identity's report too
    overrides = dict(click.get_current_context().meta.get(_OVERRIDES, {}))
    config_file = overrides.pop("config_file", None)
    return clientconfig.load(config_file, overrides)


def build_client(**kwargs: Any) -> Any:
    return load_config().build_client(**kwargs)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def echo_table(headers: list[str], rows: Iterable[Iterable[Any]]) -> None:
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# -- commands -----------------------------------------------------------------------------------------------------
@click.group()
@connection_options
def kafka() -> None:
    """Call the Kafka REST proxy: topics, produce, consume, partitions, brokers.

    Configure with --config FILE (dotenv or JSON), flags, or environment variables: KAFKAREST_ENDPOINT,
    AZURE_TENANT_ID, AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or
    AZURE_FEDERATED_TOKEN_FILE (else DefaultAzureCredential), AZURE_AUTHORITY_HOST, PROVISION_CA_BUNDLE,
    KAFKAREST_SCOPE. Secrets are read from files and the environment only, never printed.
    """


@kafka.command()
@connection_options
@output_option
@handle_errors
def status(output: str) -> None:
    """Check that the REST proxy answers (GET /v1/status)."""
    with build_client() as kr:
        body = kr.status()
        endpoint = kr.endpoint
    if output == "json":
        echo_json({"endpoint": endpoint, "status": body})
    else:
        shown = body if isinstance(body, str) else json.dumps(body)
        click.echo(f"{endpoint}: {shown if body not in (None, '') else 'OK'}")


@kafka.command()
@connection_options
@output_option
@handle_errors
def brokers(output: str) -> None:
    """List the Kafka brokers."""
    with build_client() as kr:
        found = kr.brokers()
    if output == "json":
        echo_json({"brokers": [b.to_dict() for b in found]})
    else:
        echo_table(["ID", "HOST", "PORT", "RACK"], [(b.id, b.host, b.port, b.rack) for b in found])


@kafka.group()
def topics() -> None:
    """List, create and delete topics."""


@topics.command("list")
@connection_options
@output_option
@handle_errors
def topics_list(output: str) -> None:
    """List the topics."""
    with build_client() as kr:
        names = kr.list_topics()
    if output == "json":
        echo_json({"topics": names})
    else:
        for name in names:
            click.echo(name)


def _topic_config(values: tuple[str, ...]) -> dict[str, str]:
    config = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise bad_input("--topic-config", f"{item!r} is not KEY=VALUE",
                            "write e.g. --topic-config retention.ms=86400000")
        config[key.strip()] = value
    return config


@topics.command("create")
@click.argument("name")
@click.option("--partitions", type=click.IntRange(1), default=1, show_default=True)
@click.option("--replication-factor", type=click.IntRange(1), help="Default: the cluster's.")
@click.option("--topic-config", multiple=True, metavar="KEY=VALUE", help="Topic setting, e.g. retention.ms=86400000 "
              "(repeatable).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the topic is listed (new topics take a few seconds to appear).")
@click.option("--timeout", type=click.FloatRange(0), default=60.0, show_default=True, help="Seconds to wait.")
@click.option("--exist-ok", is_flag=True, help="Succeed if the topic exists already.")
@connection_options
@output_option
@handle_errors
def topics_create(name: str, partitions: int, replication_factor: int | None, topic_config: tuple[str, ...],
                  wait: bool, timeout: float, exist_ok: bool, output: str) -> None:
    """Create topic NAME."""
    config = _topic_config(topic_config)
    with build_client() as kr:
        kr.create_topic(name, partitions=partitions, replication_factor=replication_factor, config=config,
                        wait=wait, timeout=timeout, exist_ok=exist_ok)
    if output == "json":
        echo_json({"topic": name, "created": True, "visible": wait})
    else:
        click.echo(f"created topic {name}" + ("" if wait else " (not waiting for it to be listed)"))


@topics.command("delete")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Wait until the topic is no longer listed.")
@click.option("--timeout", type=click.FloatRange(0), default=60.0, show_default=True)
@connection_options
@output_option
@handle_errors
def topics_delete(name: str, wait: bool, timeout: float, output: str) -> None:
    """Delete topic NAME (an extension: Microsoft's v1 API documents no deletion)."""
    with build_client() as kr:
        kr.delete_topic(name, wait=wait, timeout=timeout)
    if output == "json":
        echo_json({"topic": name, "deleted": True})
    else:
        click.echo(f"deleted topic {name}")


# -- produce ------------------------------------------------------------------------------------------------------
def parse_record_text(text: str, fmt: str, origin: str) -> list[Any]:
    """Values (or ProducerRecords) from a document.

    json:  an array is a list of values; `{"records": [{"value", "key", "partition"}]}` (the proxy's own produce
           body) gives per-record keys and partitions; any other JSON value is one value.
    jsonl: one JSON value per line (so a single array value is one line of JSONL).
    text:  one string value per line.
    auto:  json when the whole input is one JSON document, else jsonl.
    """
    from provision.kafkarest import ProducerRecord

    if fmt == "text":
        return [line for line in text.splitlines() if line.strip()]
    if fmt in ("auto", "json"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            if fmt == "json":
                raise bad_input(origin, f"is not a JSON document ({exc})",
                                "fix it, or use --format jsonl for one value per line") from None
        else:
            if isinstance(doc, list):
                return doc
            if isinstance(doc, dict) and isinstance(doc.get("records"), list):
                return [_wire_record(item, i, origin, ProducerRecord) for i, item in enumerate(doc["records"])]
            return [doc]
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except ValueError as exc:
            raise bad_input(f"{origin} line {number}", f"is not a JSON value ({exc})",
                            "write one JSON value per line (quote text: \"hello\"), or pass --format text") from None
    return values


def _wire_record(item: Any, index: int, origin: str, record_cls: type) -> Any:
    if not isinstance(item, dict) or "value" not in item:
        raise bad_input(f"{origin} records[{index}]", "has no \"value\"",
                        'write {"value": ..., "key": ..., "partition": ...}')
    partition = item.get("partition")
    if partition is not None and (isinstance(partition, bool) or not isinstance(partition, int) or partition < 0):
        raise bad_input(f"{origin} records[{index}].partition", f"{partition!r} is not a partition number",
                        "use an integer of 0 or more")
    return record_cls(item["value"], item.get("key"), partition)


def _argument_values(values: tuple[str, ...], as_text: bool) -> list[Any]:
    if as_text:
        return list(values)
    out = []
    for i, raw in enumerate(values, 1):
        try:
            out.append(json.loads(raw))
        except ValueError:
            raise bad_input(f"value {i} ({raw[:40]!r})", "is not JSON",
                            "quote text as JSON, e.g. '\"hello\"', or pass --format text") from None
    return out


def _read_source(path: str) -> tuple[str, str]:
    try:
        if path == "-":
            return sys.stdin.read(), "stdin"
        return Path(path).read_text(encoding="utf-8-sig"), path
    except UnicodeDecodeError as exc:
        origin = "stdin" if path == "-" else repr(path)
        raise bad_input("--file", f"{origin} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                                  f"{exc.start})", "save the records as UTF-8 JSON or JSON lines") from None
    except OSError as exc:
        raise bad_input("--file", f"cannot read {path!r} ({exc.strerror or exc})",
                        "pass a readable file, or - for stdin") from None


def _format_for(path: str, fmt: str) -> str:
    if fmt != "auto" or path == "-":
        return fmt
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".txt": "text"}.get(suffix, "auto")


@kafka.command()
@click.argument("topic")
@click.argument("values", nargs=-1)
@click.option("--file", "-f", "path", metavar="PATH", help="Read records from a JSON / JSONL file, or - for stdin "
              "(stdin is read anyway when no VALUES are given and it is not a terminal).")
@click.option("--format", "fmt", type=click.Choice(["auto", "json", "jsonl", "text"]), default="auto",
              show_default=True, help="How to read VALUES and the file: JSON values, JSON lines, or plain text lines "
              "(each a string).")
@click.option("--key", help="Key for every record (a string).")
@click.option("--partition", type=click.IntRange(0), help="Partition for every record (default: the proxy chooses).")
@click.option("--batch-size", type=click.IntRange(1), default=500, show_default=True, help="Records per request.")
@connection_options
@output_option
@handle_errors
def produce(topic: str, values: tuple[str, ...], path: str | None, fmt: str, key: str | None,
            partition: int | None, batch_size: int, output: str) -> None:
    """Produce records to TOPIC.

    Each VALUE is a JSON value ('{"id": 1}', 5, '"text"'); or records come from --file / stdin: a JSON array,
    the proxy's own {"records": [{"value", "key", "partition"}]} body, or JSON lines.
    """
    records = _argument_values(values, fmt == "text")
    if path is None and not values and not sys.stdin.isatty():
        path = "-"
    if path is not None:
        text, origin = _read_source(path)
        records += parse_record_text(text, _format_for(path, fmt), origin)
    if not records:
        raise bad_input("records", "none given", "pass VALUES, --file FILE, or pipe JSON lines on stdin")
    with build_client() as kr:
        _check_partitions(kr, topic, partition, records)
        result = kr.produce(topic, records, key=key, partition=partition, batch_size=batch_size)
    if output == "json":
        echo_json(result.to_dict())
    else:
        click.echo(f"produced {result.records} record(s) to {topic} in {result.requests} request(s)")


def _check_partitions(kr: Any, topic: str, partition: int | None, records: list[Any]) -> None:
    """Partitions named by --partition or by the records must exist: the proxy's 404 would not say which (a
    missing partition reads as a missing topic), so ask for the topic's partitions first — only when some are named."""
    named = {p for p in [partition, *(getattr(r, "partition", None) for r in records)] if isinstance(p, int)}
    if not named:
        return
    count = len(kr.partitions(topic))
    missing = sorted(p for p in named if p >= count)
    if missing:
        where = "--partition" if partition in missing else "records"
        have = f"partitions 0–{count - 1}" if count > 1 else "only partition 0" if count == 1 else "no partitions"
        raise bad_input(where, f"partition {missing[0]} of topic {topic!r} does not exist (the topic has {have})",
                        f"pick one of them; see `provision kafka partitions {topic}`")


# -- consume ------------------------------------------------------------------------------------------------------
def _offset(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    text = value.strip().lower()
    if text in ("earliest", "latest"):
        return text
    if text.isdigit():
        return int(text)
    raise bad_input("--offset", f"{value!r} is not an offset", "pass a number of 0 or more, earliest or latest")


@kafka.command()
@click.argument("topic")
@click.option("--partition", type=click.IntRange(0), default=0, show_default=True)
@click.option("--offset", default="earliest", show_default=True, callback=_offset,
              help="First offset to read: a number, earliest or latest.")
@click.option("--count", type=click.IntRange(1), help="Stop after this many records (default: until caught up, "
              "or forever with --follow).")
@click.option("--follow", is_flag=True, help="Keep polling for new records (Ctrl-C stops).")
@click.option("--page-size", type=click.IntRange(1), default=100, show_default=True, help="Records per request.")
@click.option("--poll-interval", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Seconds between polls with --follow.")
@click.option("--values-only", is_flag=True, help="Print each record's value only.")
@connection_options
@handle_errors
def consume(topic: str, partition: int, offset: int | str, count: int | None, follow: bool, page_size: int,
            poll_interval: float, values_only: bool) -> None:
    """Read records from one partition of TOPIC as JSON lines on stdout, following NextOffset."""
    with build_client() as kr:
        try:
            for record in kr.iter_records(topic, partition, offset, page_size=page_size, follow=follow,
                                          poll_interval=poll_interval, limit=count):
                data = record.value if values_only else record.to_dict()
                # One line per record, flushed, so `--follow | jq` sees records as they come.
                click.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
                sys.stdout.flush()
        except KeyboardInterrupt:  # the way to stop --follow: not an error
            pass
        except BrokenPipeError:  # `| head` closed the pipe: we are done; point stdout at devnull so the
            # interpreter's final flush does not fail again (the recipe in Python's signal docs)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# -- metadata -----------------------------------------------------------------------------------------------------
@kafka.command()
@click.argument("topic")
@click.option("--partition", type=click.IntRange(0), help="Show only this partition.")
@connection_options
@output_option
@handle_errors
def partitions(topic: str, partition: int | None, output: str) -> None:
    """Show TOPIC's partitions: offsets, leader, replicas and in-sync replicas."""
    with build_client() as kr:
        found = [kr.partition(topic, partition)] if partition is not None else kr.partitions(topic)
    if output == "json":
        if partition is not None:
            echo_json(found[0].to_dict())
        else:
            echo_json({"topic": topic, "partitions": [p.to_dict() for p in found]})
        return

    def ids(brokers: list) -> str:
        return ",".join(str(b.id) for b in brokers)

    echo_table(["PARTITION", "EARLIEST", "LATEST", "LEADER", "REPLICAS", "ISR"],
               [(p.partition, p.earliest_offset, p.latest_offset, p.leader.id if p.leader else None,
                 ids(p.replicas), ids(p.isr)) for p in found])
