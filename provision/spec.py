"""The environment spec: one TOML file, overridable per field by `PROVISION_…` env vars and command-line flags.

Precedence is flag > env > file > default. Every field is declared once in FIELDS, which gives its TOML key
(`[cluster] name = …`), its env var (`PROVISION_CLUSTER_NAME`), its flag (`--cluster-name`) and its rule. All
validation happens here, before any API call: a bad value becomes one line naming the field, the rule and the fix
(exit code 2).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

CLOUD_NAMES = ("local", "public", "china", "usgov")
# HDInsight version → the Kafka versions it offers. Only supported versions: 5.1 (Kafka 3.2). HDInsight 4.0 and
# 5.0 were retired on 31 March 2025 (Microsoft's "Azure HDInsight versions" / retirement notices); Azure no longer
# creates them, so they are refused here, before any write.
KAFKA_VERSIONS = {"5.1": ("3.2",)}
DEFAULT_KAFKA = {"5.1": "3.2"}
RETIRED_VERSIONS = {"4.0": "31 March 2025", "5.0": "31 March 2025"}


class SpecError(ValueError):
    """A value of the environment spec breaks a rule. `str()` is the one line shown to the user."""

    def __init__(self, field_name: str, rule: str, fix: str):
        super().__init__(f"{field_name}: {rule}; {fix}")
        self.field = field_name


@dataclass(frozen=True)
class Field:
    key: str  # dotted TOML path, e.g. "cluster.name"
    kind: type  # str, int, list, dict, bool
    default: Any
    help: str
    check: Callable[[str, Any], None] | None = None
    secret: bool = False

    @property
    def env(self) -> str:
        return "PROVISION_" + self.key.replace(".", "_").upper()

    @property
    def flag(self) -> str:
        return "--" + self.key.replace(".", "-").replace("_", "-")

    @property
    def param(self) -> str:
        return self.key.replace(".", "_")


# -- rules ------------------------------------------------------------------------------------------------------
def _rule(pattern: str, rule: str, fix: str) -> Callable[[str, Any], None]:
    rx = re.compile(pattern)

    def check(name: str, value: Any) -> None:
        if value is not None and value != "" and not rx.fullmatch(str(value)):
            raise SpecError(name, f"'{value}' {rule}", fix)

    return check


def _one_of(options: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in options:
            raise SpecError(name, f"'{value}' is not one of {', '.join(options)}", f"set it to one of {', '.join(options)}")

    return check


def _int_range(lo: int, hi: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not lo <= value <= hi:
            raise SpecError(name, f"{value} is outside {lo}–{hi}", f"use a whole number from {lo} to {hi}")

    return check


def _cluster_version(name: str, value: Any) -> None:
    if value in RETIRED_VERSIONS:
        raise SpecError(name, f"HDInsight {value} was retired on {RETIRED_VERSIONS[value]} and Azure no longer "
                              f"creates it", "set cluster.version to 5.1 (Kafka 3.2), the supported version")
    _one_of(tuple(KAFKA_VERSIONS))(name, value)


def _rest_proxy_config(name: str, value: Any) -> None:
    """kafkaRestProperties.configurationOverride: a map of the REST proxy's setting names to string values."""
    for k, v in value.items():
        if not k.strip() or any(c.isspace() or ord(c) < 32 for c in k) or len(k) > 256:
            raise SpecError(f"{name}.{k}", "setting names are 1–256 characters without spaces or control "
                                           "characters", "write the REST proxy setting's name, e.g. "
                                                          "consumer.request.timeout.ms")
        if not isinstance(v, str):
            raise SpecError(f"{name}.{k}", f"{v!r} is not a string; the REST proxy's configurationOverride "
                                           f"holds string values", f'quote it: {k} = "{v}"')
        if len(v) > 1024 or any(ord(c) < 32 for c in v):
            raise SpecError(f"{name}.{k}", "values are at most 1024 printable characters", "shorten the value")


def _cidrs(name: str, value: Any) -> None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=True)
        except ValueError as e:
            raise SpecError(name, f"'{item}' is not a valid CIDR ({e})",
                            "write networks like 203.0.113.0/24 with the host bits zero") from None


def _cidr(name: str, value: Any) -> None:
    if value:
        _cidrs(name, [value])


def _arm_id(type_path: str) -> Callable[[str, Any], None]:
    rx = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/" + type_path, re.I)

    def check(name: str, value: Any) -> None:
        if value and not rx.fullmatch(value):
            raise SpecError(name, f"'{value}' is not a resource id of that type",
                            "copy the full id, e.g. from `az network vnet subnet show --query id`")

    return check


CLUSTER_NAME = _rule(r"(?!apps$)[a-zA-Z0-9][a-zA-Z0-9-]{1,57}[a-zA-Z0-9]",
                     "is not a valid HDInsight cluster name (3–59 letters, digits and hyphens, starting and ending "
                     "with a letter or digit; not 'apps')", "choose another name, e.g. kafka-rest-dev")
STORAGE_NAME = _rule(r"[a-z0-9]{3,24}", "is not a valid storage account name (3–24 lowercase letters and digits)",
                     "use only lowercase letters and digits, e.g. stkafkarest01")
CONTAINER_NAME = _rule(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
                       "is not a valid blob container name (3–63 lowercase letters, digits and single hyphens)",
                       "use lowercase letters, digits and hyphens, e.g. kafka")
RG_NAME = _rule(r"[-\w._()]{0,89}[-\w_()]", "is not a valid resource group name (1–90 letters, digits, '-', '_', "
                "'.', '(', ')'; not ending in '.')", "choose another name, e.g. rg-kafka-rest")
# Microsoft.Network names (Azure naming rules): letters, digits, '_', '.', '-'; starting with a letter or digit and
# ending with a letter, digit or '_'. VNet 2–64; subnet, NSG and security rule 1–80.
VNET_NAME = _rule(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]",
                  "is not a valid virtual network name (2–64 letters, digits, '_', '.', '-', starting with a letter or "
                  "digit and ending with a letter, digit or '_')", "choose another name, e.g. vnet-kafka")


def _network_name(what: str, fix: str) -> Callable[[str, Any], None]:
    return _rule(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?",
                 f"is not a valid {what} name (1–80 letters, digits, '_', '.', '-', starting with a letter or digit and "
                 f"ending with a letter, digit or '_')", fix)


SUBNET_NAME = _network_name("subnet", "choose another name, e.g. hdinsight")
NSG_NAME = _network_name("network security group", "choose another name, e.g. nsg-kafka")
SECURITY_RULE_NAME = _network_name("security rule", "rename the rule")


def _display_name(limit: int, what: str, example: str) -> Callable[[str, Any], None]:
    """Entra display names: at most `limit` characters, no control characters, not blank."""

    def check(name: str, value: Any) -> None:
        text = str(value)
        if not text.strip():
            raise SpecError(name, f"is blank; {what} needs a name", f"set it, e.g. {example}")
        if len(text) > limit:
            raise SpecError(name, f"is {len(text)} characters; {what} name has at most {limit}",
                            f"shorten it, e.g. {example}")
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise SpecError(name, f"contains a control character, which {what} name cannot hold",
                            "use printable characters only")

    return check


APP_NAME = _display_name(120, "an app registration", "kafka-dev-client")
GROUP_NAME = _display_name(256, "a security group", "kafka-dev-clients")

MAIL_NICKNAME = _rule(r"[\x21-\x7e]{1,64}", "is not a valid mailNickname (1–64 ASCII characters, no spaces)",
                      "use letters, digits, '-' or '_'")
GUID = _rule(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "is not a GUID",
             "use the id in the form 00000000-0000-0000-0000-000000000000")
LOCATION = _rule(r"[a-z0-9]+", "is not an Azure region name", "use the short name, e.g. eastus or westeurope")
USERNAME = _rule(r"(?!.*[#;.\"',/:`!*?$(){}\[\]<>|&=+%~^ ])[A-Za-z0-9_@-]{1,20}",
                 "is not a valid HDInsight user name (1–20 characters, no spaces or #;.\"',/:`!*?$(){}[]<>|&=+%~^)",
                 "use letters, digits, '_' or '@'")
RESERVED_SSH_USERS = {"hadoop", "users", "oozie", "hive", "mapred", "ambari-qa", "zookeeper", "tez", "hdfs", "sqoop",
                      "yarn", "hcat", "ams", "hbase", "administrator", "admin", "user", "root", "spark", "test"}
MAIL_NICKNAME_BAD = set('@()\\[]";:<>, ')


# VM sizes HDInsight offers Kafka nodes, with their cores (used for the quota preflight). A superset of
# provision/resources/hdinsight_kafka.py CORES (note for its owner: that table can become `VM_SIZE_CORES`) and of
# the emulator's billingSpecs catalog. Names are case-insensitive.
VM_SIZE_CORES = {
    "small": 1, "medium": 2, "large": 4, "extralarge": 8,
    "standard_a1_v2": 1, "standard_a2_v2": 2, "standard_a4_v2": 4, "standard_a8_v2": 8,
    "standard_d1_v2": 1, "standard_d2_v2": 2, "standard_d3_v2": 4, "standard_d4_v2": 8, "standard_d5_v2": 16,
    "standard_d11_v2": 2, "standard_d12_v2": 4, "standard_d13_v2": 8, "standard_d14_v2": 16,
    "standard_ds3_v2": 4, "standard_ds4_v2": 8, "standard_ds5_v2": 16, "standard_ds12_v2": 4,
    "standard_ds13_v2": 8, "standard_ds14_v2": 16,
    "standard_e2_v3": 2, "standard_e4_v3": 4, "standard_e8_v3": 8, "standard_e16_v3": 16, "standard_e20_v3": 20,
    "standard_e32_v3": 32, "standard_e64_v3": 64,
    "standard_e2s_v3": 2, "standard_e4s_v3": 4, "standard_e8s_v3": 8, "standard_e16s_v3": 16,
    "standard_e20s_v3": 20, "standard_e32s_v3": 32,
}


def _vm_size(name: str, value: Any) -> None:
    if str(value).lower() not in VM_SIZE_CORES:
        close = [k for k in VM_SIZE_CORES if k.replace("_", "") == str(value).lower().replace("_", "").replace(" ", "")]
        hint = f"did you mean {close[0]}?" if close else "use a size HDInsight offers, e.g. Standard_E4_v3 or " \
                                                             "Standard_D13_v2, or unset it for the region's default"
        raise SpecError(name, f"'{value}' is not a VM size HDInsight offers for Kafka", hint)


# Regions with HDInsight, by cloud (the short names ARM takes). "local" is the emulator's catalog.
HDINSIGHT_REGIONS = frozenset((
    "eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus canadacentral "
    "canadaeast brazilsouth northeurope westeurope uksouth ukwest francecentral germanywestcentral "
    "switzerlandnorth norwayeast swedencentral italynorth polandcentral eastasia southeastasia japaneast japanwest "
    "koreacentral koreasouth australiaeast australiasoutheast australiacentral centralindia southindia westindia "
    "uaenorth southafricanorth qatarcentral israelcentral").split())
REGIONS_BY_CLOUD = {
    "local": HDINSIGHT_REGIONS,
    "public": HDINSIGHT_REGIONS | frozenset((
        "australiacentral2 brazilsoutheast francesouth germanynorth norwaywest southafricawest switzerlandwest "
        "uaecentral jioindiawest jioindiacentral mexicocentral spaincentral newzealandnorth swedensouth "
        "eastus2euap centraluseuap").split()),
    "china": frozenset("chinaeast chinaeast2 chinaeast3 chinanorth chinanorth2 chinanorth3".split()),
    "usgov": frozenset("usgovvirginia usgovarizona usgovtexas usdodcentral usdodeast".split()),
}


KEY_VAULT_NAME = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]")


def _key_vault(name: str, value: Any) -> None:
    """A vault name as Azure has it (3–24 letters, digits, single hyphens, starting with a letter, not ending with
    a hyphen) or the resource id of an existing vault."""
    if value.startswith("/"):
        _arm_id(r"Microsoft\.KeyVault/vaults/[^/]+")(name, value)
        value = value.rstrip("/").split("/")[-1]
    if not KEY_VAULT_NAME.fullmatch(value):
        raise SpecError(name, f"'{value}' is not a valid Key Vault name (3–24 letters, digits and single hyphens, "
                              f"starting with a letter, ending with a letter or digit)", "e.g. kv-kafka-dev")


def _mail_nickname(name: str, value: Any) -> None:
    MAIL_NICKNAME(name, value)
    bad = sorted(set(value or "") & MAIL_NICKNAME_BAD)
    if bad:
        raise SpecError(name, f"'{value}' contains {' '.join(repr(c) for c in bad)}, which Graph forbids in a "
                              f"mailNickname", "use letters, digits, '-' or '_'")


def _ssh_user(name: str, value: Any) -> None:
    USERNAME(name, value)
    if value and value.lower() in RESERVED_SSH_USERS:
        raise SpecError(name, f"'{value}' is a reserved user name on HDInsight nodes", "choose e.g. sshuser")


def _tags(name: str, value: Any) -> None:
    for k, v in value.items():
        if len(k) > 512 or any(c in k for c in "<>%&\\?/"):
            raise SpecError(f"{name}.{k}", "tag names are at most 512 characters without <>%&\\?/", "rename the tag")
        if not isinstance(v, str) or len(v) > 256:
            raise SpecError(f"{name}.{k}", "tag values are strings of at most 256 characters", "shorten the value")


FIELDS: tuple[Field, ...] = (
    Field("name", str, "kafkarest", "Environment name: prefixes default resource names and tags what this tool "
          "creates.", _rule(r"[a-z][a-z0-9-]{1,20}[a-z0-9]", "is not a valid environment name (3–22 lowercase "
                            "letters, digits, hyphens)", "e.g. kafka-dev")),
    Field("cloud", str, "local", "Where to deploy: local (the emulator), public, china or usgov.",
          _one_of(CLOUD_NAMES)),
    Field("tenant", str, None, "Entra tenant id (default: from the credential / AZURE_TENANT_ID).", GUID),
    Field("subscription", str, None, "Subscription id (default: AZURE_SUBSCRIPTION_ID).", GUID),
    Field("location", str, "eastus", "Azure region.", LOCATION),
    Field("resource_group", str, None, "Resource group (created if missing). Default: rg-<name>.", RG_NAME),
    Field("tags", dict, {}, "Extra tags for every resource (TOML table; env/flag: k=v,k2=v2).", _tags),
    Field("app.name", str, None, "Display name and uniqueName of the app registration. Default: <name>-client.",
          APP_NAME),
    Field("app.credential_days", int, 180, "Lifetime of the client secret in days.", _int_range(1, 730)),
    Field("group.name", str, None, "Security group whose members may call the REST proxy. Default: <name>-clients.",
          GROUP_NAME),
    Field("group.id", str, None, "Use this existing security group (object id) instead of creating one: provision "
          "only adds its member to it.", GUID),
    Field("group.mail_nickname", str, None, "mailNickname of the group. Default: derived from the group name.",
          _mail_nickname),
    Field("network.subnet_id", str, None, "Use this existing subnet (resource id) instead of creating a VNet.",
          _arm_id(r"Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+")),
    Field("network.nsg_id", str, None, "Use this existing network security group (resource id).",
          _arm_id(r"Microsoft\.Network/networkSecurityGroups/[^/]+")),
    Field("network.vnet_name", str, None, "VNet to create when no subnet_id is given. Default: vnet-<name>.",
          VNET_NAME),
    Field("network.address_space", str, "10.10.0.0/16", "Address space of a created VNet.", _cidr),
    Field("network.subnet_name", str, "hdinsight", "Subnet to create for the cluster.", SUBNET_NAME),
    Field("network.subnet_prefix", str, "10.10.0.0/24", "Address prefix of a created subnet.", _cidr),
    Field("network.nsg_name", str, None, "NSG to create when no nsg_id is given. Default: nsg-<name>.",
          NSG_NAME),
    Field("network.resource_provider_connection", str, "Inbound", "Inbound (default) or Outbound: with Outbound "
          "the cluster connects out to the HDInsight resource provider and needs no inbound management traffic "
          "(networkProperties.resourceProviderConnection).", _one_of(("Inbound", "Outbound"))),
    Field("network.private_link", str, "Disabled", "Enabled or Disabled: Private Link to the cluster "
          "(networkProperties.privateLink); needs resource_provider_connection = Outbound and a subnet_id "
          "prepared for it.", _one_of(("Enabled", "Disabled"))),
    Field("network.client_cidrs", list, [], "Client networks allowed to reach 443 and 9400 (besides the HDInsight "
          "service tag).", _cidrs),
    Field("storage.account", str, None, "Storage account for the cluster. Default: derived from name + subscription.",
          STORAGE_NAME),
    Field("storage.container", str, None, "Blob container. Default: the cluster name in lowercase.", CONTAINER_NAME),
    Field("cluster.name", str, None, "HDInsight cluster name (globally unique). Default: <name>-<hash>.",
          CLUSTER_NAME),
    Field("cluster.version", str, "5.1", "HDInsight version: 5.1 (4.0 and 5.0 were retired on 31 March 2025).",
          _cluster_version),
    Field("cluster.kafka_version", str, None, "Kafka version: 3.2 on 5.1."),
    Field("cluster.worker_count", int, 3, "Kafka broker (worker node) count.", _int_range(1, 100)),
    Field("cluster.disks_per_worker", int, 2, "Managed data disks per broker.", _int_range(1, 8)),
    Field("cluster.head_vm_size", str, None, "Head node VM size. Default: the region's billingSpecs default.",
          _vm_size),
    Field("cluster.worker_vm_size", str, None, "Worker node VM size. Default: from billingSpecs.", _vm_size),
    Field("cluster.zookeeper_vm_size", str, None, "ZooKeeper node VM size. Default: from billingSpecs.", _vm_size),
    Field("cluster.management_vm_size", str, None, "Kafka management node size. Unset: the service manages it "
          "(the role is not sent).", _vm_size),
    Field("cluster.gateway_username", str, "admin", "Cluster login (gateway) user name.", USERNAME),
    Field("cluster.ssh_username", str, "sshuser", "SSH user name on the nodes.", _ssh_user),
    Field("cluster.rest_proxy_config", dict, {}, "Kafka REST proxy settings (kafkaRestProperties."
          "configurationOverride; TOML table of strings; env/flag: k=v,k2=v2).", _rest_proxy_config),
    Field("secrets.key_vault", str, None, "Key Vault that holds every secret provision makes (the system of record "
          "shared by every machine): a vault name (created in the resource group, RBAC, soft delete) or the "
          "resource id of an existing vault. Unset: secrets stay in 0600 files under .provision/.", _key_vault),
)
FIELDS_BY_KEY = {f.key: f for f in FIELDS}
# Passwords never come from the TOML file: only from these env vars, or generated and stored 0600.
SECRET_ENV = {"gateway_password": "PROVISION_GATEWAY_PASSWORD", "ssh_password": "PROVISION_SSH_PASSWORD"}


@dataclass(frozen=True)
class Spec:
    """The resolved, validated environment description. Derived names are filled in."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)  # field → flag | env | file | default | derived

    @property
    def managed_tags(self) -> dict[str, str]:
        """Tags on every ARM resource this tool creates: how `down` and `status` find them again."""
        return {**self.values["tags"], "provision-environment": self.values["name"], "managed-by": "provision"}


def _coerce(f: Field, raw: Any, origin: str) -> Any:
    """Turn a TOML, env or flag value into the field's type."""
    if raw is None:
        return None
    try:
        if f.kind is int:
            if isinstance(raw, (bool, float)):  # 3.7 is refused, not truncated to 3
                raise ValueError
            return int(raw)
        if f.kind is list:
            if isinstance(raw, str):
                return [p.strip() for p in raw.split(",") if p.strip()]
            if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                raise ValueError
            return list(raw)
        if f.kind is dict:
            if isinstance(raw, str):
                pairs = [p for p in raw.split(",") if p.strip()]
                out = {}
                for p in pairs:
                    k, sep, v = p.partition("=")
                    if not sep:
                        raise ValueError
                    out[k.strip()] = v.strip()
                return out
            if not isinstance(raw, dict):
                raise ValueError
            return {str(k): v for k, v in raw.items()}
        if isinstance(raw, (dict, list, bool)):
            raise ValueError
        return str(raw)
    except (TypeError, ValueError):
        want = {int: "a whole number", list: "a list of strings (comma-separated in env/flags)",
                dict: "a table of strings (k=v,k2=v2 in env/flags)", str: "a string"}[f.kind]
        raise SpecError(f.key, f"{origin} value {raw!r} is not {want}", f"write {f.key} as {want}") from None


def load_file(path: str | os.PathLike | None) -> dict[str, Any]:
    """Read the TOML file into dotted keys, refusing unknown keys and secrets."""
    if not path:
        return {}
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # a byte-order mark (Windows editors) is fine
    except FileNotFoundError:
        raise SpecError("config", f"file {p} does not exist", "create one with `provision init`") from None
    except UnicodeDecodeError as e:
        raise SpecError("config", f"{p} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})",
                        "save the file as UTF-8") from None
    except IsADirectoryError:
        raise SpecError("config", f"{p} is a directory, not a file", "pass the path of a TOML file") from None
    except OSError as e:
        raise SpecError("config", f"cannot read {p} ({e.strerror or e})", "check the path and its permissions") \
            from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError("config", f"{p} is not valid TOML ({e})", "fix the syntax") from None
    flat: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and k != "tags":
            for k2, v2 in v.items():
                flat[f"{k}.{k2}"] = v2
        else:
            flat[k] = v
    for k in flat:
        if k not in FIELDS_BY_KEY and ("password" in k or "secret" in k):
            raise SpecError(k, "secrets are not read from the TOML file",
                            f"set {SECRET_ENV.get(k.split('.')[-1], 'PROVISION_GATEWAY_PASSWORD')} or let "
                            f"provision generate one")
        if k not in FIELDS_BY_KEY:
            close = [f.key for f in FIELDS if f.key.split(".")[-1] == k.split(".")[-1]]
            hint = f"did you mean {close[0]}?" if close else "see `provision init` for the known fields"
            raise SpecError(k, "is not a known field", hint)
    return flat


def resolve(file: str | os.PathLike | None = None, flags: dict[str, Any] | None = None,
            env: dict[str, str] | None = None) -> Spec:
    """flag > env > file > default, then derived names, then every rule."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != () and v != []}
    from_file = load_file(file)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f in FIELDS:
        if f.param in flags:
            values[f.key], sources[f.key] = _coerce(f, flags[f.param], f"flag {f.flag}"), "flag"
        elif env.get(f.env) not in (None, ""):
            values[f.key], sources[f.key] = _coerce(f, env[f.env], f"env {f.env}"), "env"
        elif f.key in from_file:
            values[f.key], sources[f.key] = _coerce(f, from_file[f.key], "file"), "file"
        else:
            default = f.default
            values[f.key] = list(default) if isinstance(default, list) else (
                dict(default) if isinstance(default, dict) else default)
            sources[f.key] = "default"
    for f in FIELDS:  # an empty string is no value: a default or derived name, or an error when one is needed
        if f.kind is str and isinstance(values[f.key], str) and not values[f.key].strip():
            if f.default is not None:
                origin = {"flag": f"flag {f.flag}", "env": f"env {f.env}", "file": "the file"}[sources[f.key]]
                raise SpecError(f.key, f"is empty (from {origin})", f"set it, e.g. {f.default}, or leave it out "
                                                                    f"for the default {f.default}")
            values[f.key], sources[f.key] = None, "default"
    _check_settings(env)
    if values["subscription"] is None and values["cloud"] != "local" and env.get("AZURE_SUBSCRIPTION_ID"):
        # The subscription seeds the globally unique default names: take the one the credential uses.
        values["subscription"], sources["subscription"] = env["AZURE_SUBSCRIPTION_ID"], "env"
    _derive(values, sources)
    # What the user wrote is checked before what was derived from it, so the message names their field.
    for f in sorted(FIELDS, key=lambda f: sources[f.key] == "derived"):
        if f.check is not None and values[f.key] is not None:
            f.check(f.key, values[f.key])
    _cross_checks(values, env)
    users = (values["cluster.gateway_username"], values["cluster.ssh_username"])
    for which, env_name in SECRET_ENV.items():  # passwords given by env are checked now, before any write
        if env.get(env_name):
            check_password(which, env[env_name], users)
    return Spec(values, sources)


SECONDS_ENV = ("PROVISION_CONSISTENCY_TIMEOUT", "PROVISION_POLLING_INTERVAL")


def _check_settings(env: Any) -> None:
    """The CLI's settings read later from the environment, checked now, before anything is written."""
    import math

    for name in SECONDS_ENV:
        raw = env.get(name)
        if raw in (None, ""):
            continue
        try:
            value = float(raw)
        except ValueError:
            raise SpecError(name, f"'{raw}' is not a number", "set it to seconds, e.g. 0.5") from None
        if not math.isfinite(value) or value < 0:
            raise SpecError(name, f"{raw} is not 0 or more seconds", "set it to seconds, e.g. 0.5")
    from provision.cli.options import check_state_dir, output_mode  # (lazy: provision.cli imports this module)

    output_mode(env.get("PROVISION_OUTPUT"))
    check_state_dir(env.get("PROVISION_STATE_DIR") or ".provision",
                    "PROVISION_STATE_DIR" if env.get("PROVISION_STATE_DIR") else "the state directory .provision")


def _short_hash(*parts: str, n: int = 6) -> str:
    return hashlib.sha256("/".join(p or "" for p in parts).encode()).hexdigest()[:n]


def _derive(v: dict[str, Any], src: dict[str, str]) -> None:
    name = v["name"]

    def default(key: str, value: Any) -> None:
        if v[key] in (None, ""):
            v[key], src[key] = value, "derived"

    default("resource_group", f"rg-{name}")
    default("app.name", f"{name}-client")
    default("group.name", f"{name}-clients")
    default("group.mail_nickname", re.sub(r"[^A-Za-z0-9_-]", "-", v["group.name"])[:64])
    default("network.vnet_name", f"vnet-{name}")
    default("network.nsg_name", f"nsg-{name}")
    # Globally unique names get a stable suffix from the subscription, so re-runs find the same resource.
    suffix = _short_hash(v["subscription"] or v["cloud"], v["resource_group"], name)
    default("cluster.name", f"{name}-{suffix}"[:59])
    default("storage.account", re.sub(r"[^a-z0-9]", "", f"st{name}{suffix}")[:24])
    default("storage.container", v["cluster.name"].lower())
    default("cluster.kafka_version", DEFAULT_KAFKA.get(v["cluster.version"], ""))


def _cross_checks(v: dict[str, Any], env: Any) -> None:
    version, kafka = v["cluster.version"], v["cluster.kafka_version"]
    if kafka not in KAFKA_VERSIONS[version]:
        raise SpecError("cluster.kafka_version", f"Kafka {kafka} is not offered on HDInsight {version} (offered: "
                                                 f"{', '.join(KAFKA_VERSIONS[version])})",
                        f"set cluster.kafka_version to {DEFAULT_KAFKA[version]} or change cluster.version")
    regions = REGIONS_BY_CLOUD.get(v["cloud"])
    if regions and v["location"] not in regions:
        example = "chinaeast2" if v["cloud"] == "china" else "usgovvirginia" if v["cloud"] == "usgov" else "eastus"
        raise SpecError("location", f"'{v['location']}' is not an Azure region with HDInsight in cloud {v['cloud']}",
                        f"use a region's short name, e.g. {example}")
    if v["network.subnet_id"] is None and v["network.address_space"] and v["network.subnet_prefix"]:
        space = ipaddress.ip_network(v["network.address_space"])
        sub = ipaddress.ip_network(v["network.subnet_prefix"])
        if sub.version != space.version:
            raise SpecError("network.subnet_prefix", f"{sub} is IPv{sub.version} but network.address_space {space} "
                                                     f"is IPv{space.version}",
                            "use a prefix of the same IP version inside the address space, e.g. 10.10.0.0/24")
        if not sub.subnet_of(space):  # type: ignore[arg-type]
            raise SpecError("network.subnet_prefix", f"{sub} is not inside network.address_space {space}",
                            "pick a prefix inside the VNet's address space")
    _private_network_checks(v)
    if v["cloud"] != "local" and v["subscription"] is None:
        raise SpecError("subscription", "is required for a real cloud",
                        "set PROVISION_SUBSCRIPTION, --subscription or AZURE_SUBSCRIPTION_ID")
    if v["cluster.gateway_username"] == v["cluster.ssh_username"]:
        raise SpecError("cluster.ssh_username", "must differ from cluster.gateway_username on HDInsight",
                        "e.g. keep gateway 'admin' and ssh 'sshuser'")


PRIVATE_LINK_DOC = "Microsoft's \"Enable Private Link on an HDInsight cluster\""


def _private_network_checks(v: dict[str, Any]) -> None:
    """Private Link's documented prerequisites that the spec alone can tell (the subnet's are checked at plan time,
    when it is read): the outbound resource provider connection, and a subnet prepared for it."""
    if v["network.private_link"] != "Enabled":
        return
    if v["network.resource_provider_connection"] != "Outbound":
        raise SpecError("network.private_link", "Private Link is available only when the resource provider "
                                                f"connection is Outbound ({PRIVATE_LINK_DOC})",
                        'set network.resource_provider_connection = "Outbound"')
    if not v["network.subnet_id"]:
        raise SpecError("network.private_link", "a Private Link cluster needs a subnet with "
                                                "privateLinkServiceNetworkPolicies disabled and its own NAT gateway or "
                                                f"firewall route for outbound traffic ({PRIVATE_LINK_DOC}), which "
                                                "provision does not create",
                        "prepare such a subnet and name it with network.subnet_id")


def check_password(field_name: str, value: str, usernames: tuple[str, ...] = ()) -> None:
    """HDInsight's cluster-login rule: ≥ 10 characters with upper, lower, digit and a special character, and no
    three consecutive characters of a user name."""
    problems = []
    if len(value) < 10:
        problems.append("at least 10 characters")
    if not re.search(r"[A-Z]", value):
        problems.append("an uppercase letter")
    if not re.search(r"[a-z]", value):
        problems.append("a lowercase letter")
    if not re.search(r"\d", value):
        problems.append("a digit")
    if not re.search(r"[^A-Za-z0-9]", value) or re.search(r"['\"`\\]", value):
        problems.append("a special character other than ' \" ` \\")
    for user in usernames:
        for i in range(len(user) - 2):
            if user[i:i + 3].lower() in value.lower():
                problems.append(f"no 3 consecutive characters of the user name '{user}'")
                break
    if problems:
        raise SpecError(field_name, "the password must have " + ", ".join(problems),
                        f"set {SECRET_ENV.get(field_name, field_name)} to a stronger password or unset it to "
                        f"have one generated")


def example_toml() -> str:
    """A commented example with the defaults, for `provision init`."""
    lines = ["# provision environment spec. Every field may also come from a flag (--cluster-name) or an env var",
             "# (PROVISION_CLUSTER_NAME); precedence is flag > env > this file > default.",
             "# Passwords are never read from here: set PROVISION_GATEWAY_PASSWORD / PROVISION_SSH_PASSWORD or let",
             "# provision generate them (stored 0600 in .provision/).", ""]
    section = ""
    for f in FIELDS:
        sec, _, name = f.key.rpartition(".")
        if sec != section:
            lines += ["", f"[{sec}]"]
            section = sec
        lines.append(f"# {f.help}")
        if f.default is None or f.default == [] or f.default == {}:
            shown = {list: "[]", dict: "{}"}.get(f.kind, '""')
            lines.append(f"# {name or f.key} = {shown}")
        elif f.kind is str:
            lines.append(f'{name or f.key} = "{f.default}"')
        else:
            lines.append(f"{name or f.key} = {f.default}")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
