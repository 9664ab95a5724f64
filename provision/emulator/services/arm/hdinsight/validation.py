"""The checks the HDInsight resource provider runs on a cluster create request.

Two kinds, as in Azure:
- *request* problems the RP finds while accepting the PUT (document validation, name, quota): the PUT answers
  400 `BadRequest` with the first one; `validateCreateRequest` lists them all in `validationErrors`.
- *deployment* failures the RP only meets while building the cluster (the storage account or its key, the NSG
  of a subnet, the REST proxy's security group): the PUT is accepted and the create operation later ends
  `Failed` with `InvalidDocumentErrorCode` — the way a wrong storage key or a blocked port surfaces on Azure.

Message wording follows what Azure is recorded saying where it is known ("DeploymentDocument 'CsmDocument_2_0'
failed the validation. Error: '...'", "VM size '...' provided in the CSM document is invalid or not supported
for role '...'", "User SubscriptionId '...' does not have cores left to create resource '...'. Required: N,
Available: M."). The specific `code` of each problem is the emulator's (Azure documents none); it shows up in
`validationErrors[].code`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from provision.emulator.services.arm.hdinsight import catalog

CSM = "DeploymentDocument 'CsmDocument_2_0' failed the validation. Error: '{}'"
NAME_RULES = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{1,57}[a-zA-Z0-9]$")
RESERVED_CLUSTER_NAMES = {"apps"}
HOST_RULES = re.compile(r"^([a-z0-9]{3,24})\.(blob|dfs)\.core\.windows\.net$")
# SSH user names HDInsight refuses (hdinsight-hadoop-provision-linux-clusters.md).
RESERVED_SSH_USERS = {
    "hadoop", "users", "oozie", "hive", "mapred", "ambari-qa", "zookeeper", "tez", "hdfs", "sqoop", "yarn", "hcat",
    "ams", "hbase", "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1",
    "123", "a", "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner",
    "root", "server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5", "spark",
}
HTTP_USER_FORBIDDEN = set("#;.\"',/:`!*?$(){}[]<>|&=+%~^ ")
ROLE_COUNTS = {"headnode": (2, 2), "zookeepernode": (3, 3), "kafkamanagementnode": (2, 2),
               "workernode": (1, None), "edgenode": (1, None), "idbrokernode": (2, 2)}
MAX_DISKS_PER_NODE = 8
# Versions Azure no longer creates (HDInsight 4.0 and 5.0 were retired on 31 March 2025; 5.1 is supported).
RETIRED_VERSIONS = {"4.0": "31 March 2025", "5.0": "31 March 2025"}
SUPPORTED_VERSION = "5.1"
PRIVATE_LINK_DOC = "see 'Enable Private Link on an HDInsight cluster'"

# Where in the create walk each deployment failure surfaces (fraction of the create duration).
FAIL_STORAGE, FAIL_NETWORK, FAIL_REST_PROXY = 0.25, 0.75, 1.0


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    resource: str | None = None

    def validation_error(self) -> dict[str, Any]:
        """A `validationErrors[]` entry of validateCreateRequest."""
        return {"code": self.code, "message": self.message, "errorResource": self.resource,
                "messageArguments": []}


@dataclass(frozen=True)
class Failure:
    """A deployment failure: the create operation fails once the walk reaches `at` (a fraction of its time)."""

    at: float
    message: str
    code: str = "InvalidDocumentErrorCode"

    def error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def obj(value: Any) -> dict[str, Any]:
    """A JSON object field, or {} when it is missing or of the wrong type (the type is then reported apart)."""
    return value if isinstance(value, dict) else {}


def arr(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_guid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# -- names ------------------------------------------------------------------------------------------------------
def name_problem(name: str) -> Problem | None:
    if not NAME_RULES.match(name or ""):
        return Problem("InvalidClusterName",
                       f"The cluster name '{name}' is invalid. Cluster names must be 3 to 59 characters long, "
                       f"contain only letters, numbers and hyphens, and start and end with a letter or number.",
                       "name")
    if name.lower() in RESERVED_CLUSTER_NAMES:
        return Problem("InvalidClusterName", f"The cluster name '{name}' is reserved.", "name")
    return None


def location_problem(location: Any) -> Problem | None:
    if not isinstance(location, str) or not location:
        return Problem("LocationRequired", "The 'location' property is required for a cluster.", "location")
    if catalog.region_key(location) is None:
        return Problem("LocationNotAvailableForResourceType",
                       f"The provided location '{location}' is not available for resource type "
                       f"'Microsoft.HDInsight/clusters'. List of available regions for the resource type is "
                       f"'{','.join(sorted(catalog.REGIONS))}'.", "location")
    return None


# -- the cluster document ---------------------------------------------------------------------------------------
def kind_of(props: dict[str, Any]) -> str:
    kind = obj(props.get("clusterDefinition")).get("kind")
    return kind.lower() if isinstance(kind, str) else ""


def version_of(props: dict[str, Any]) -> catalog.Version | None:
    raw = props.get("clusterVersion")
    if raw in (None, "", "default"):
        return catalog.VERSIONS["5.1"]  # the service default (capabilities' isDefault)
    return catalog.version_of(raw) if isinstance(raw, str) else None


def component_version(props: dict[str, Any], component: str) -> tuple[str | None, str | None]:
    """(key as sent, version) of a component in componentVersion; the key is case-insensitive ("Kafka"/"kafka")."""
    for k, v in obj(obj(props.get("clusterDefinition")).get("componentVersion")).items():
        if k.lower() == component:
            return k, v if isinstance(v, str) else None
    return None, None


def definition_problems(props: dict[str, Any]) -> list[Problem]:
    kind = kind_of(props)
    if kind not in catalog.CLUSTER_KINDS:
        return [Problem("UnsupportedClusterType", CSM.format(
            f"Cluster type '{obj(props.get('clusterDefinition')).get('kind')}' is not supported. Supported types: "
            f"{', '.join(catalog.CLUSTER_KINDS)}"), "clusterDefinition.kind")]
    problems = []
    os_type = props.get("osType", "Linux")
    if not isinstance(os_type, str) or os_type.lower() != "linux":
        problems.append(Problem("UnsupportedOsType", CSM.format(
            f"OS type '{os_type}' is not supported; HDInsight clusters run on Linux"), "osType"))
    version = version_of(props)
    if version is None:
        problems.append(Problem("UnsupportedClusterVersion", CSM.format(
            f"Cluster version '{props.get('clusterVersion')}' is not supported. Supported versions: "
            f"{', '.join(catalog.VERSIONS)}"), "clusterVersion"))
    elif kind == "kafka":
        _, kafka = component_version(props, "kafka")
        if kafka is not None and ".".join(kafka.split(".")[:2]) not in version.kafka:
            problems.append(Problem("UnsupportedComponentVersion", CSM.format(
                f"HDI Version '{version.short}' is supported for clusterType 'Kafka' and component Version "
                f"{' or '.join(repr(v) for v in version.kafka)}; '{kafka}' is not supported"),
                "clusterDefinition.componentVersion"))
    if props.get("kafkaRestProperties") is not None and kind != "kafka":
        problems.append(Problem("RestProxyRequiresKafka", CSM.format(
            f"Kafka REST proxy can only be enabled on clusters of type 'Kafka', not '{kind}'"),
            "kafkaRestProperties"))
    return problems


def gateway_problems(props: dict[str, Any]) -> list[Problem]:
    gateway = obj(obj(obj(props.get("clusterDefinition")).get("configurations")).get("gateway"))
    if not gateway:
        return [Problem("GatewayCredentialRequired", CSM.format(
            "Gateway configuration is required: clusterDefinition.configurations.gateway must give "
            "'restAuthCredential.isEnabled', 'restAuthCredential.username' and 'restAuthCredential.password'"),
            "clusterDefinition.configurations.gateway")]
    problems = []
    if str(gateway.get("restAuthCredential.isEnabled", "")).lower() != "true":
        problems.append(Problem("GatewayCredentialRequired", CSM.format(
            "Gateway HTTP authentication cannot be disabled: 'restAuthCredential.isEnabled' must be true"),
            "restAuthCredential.isEnabled"))
    user = gateway.get("restAuthCredential.username")
    if not isinstance(user, str) or not user or len(user) > 20 or set(user) & HTTP_USER_FORBIDDEN:
        problems.append(Problem("InvalidGatewayUserName", CSM.format(
            f"Gateway user name '{user}' is invalid: it must be 1 to 20 characters long and must not contain "
            f"any of #;.\"',/:`!*?$(){{}}[]<>|&=+%~^ or spaces"), "restAuthCredential.username"))
    password = gateway.get("restAuthCredential.password")
    if not strong_password(password):
        problems.append(Problem("InvalidGatewayPassword", CSM.format(
            "The gateway password must be at least 10 characters long and contain at least one digit, one "
            "uppercase letter, one lowercase letter and one non-alphanumeric character"),
            "restAuthCredential.password"))
    return problems


def strong_password(password: Any) -> bool:
    return (isinstance(password, str) and len(password) >= 10 and any(c.isdigit() for c in password)
            and any(c.isupper() for c in password) and any(c.islower() for c in password)
            and any(not c.isalnum() for c in password))


def roles_of(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in arr(obj(props.get("computeProfile")).get("roles")) if isinstance(r, dict)]


def role_problems(props: dict[str, Any]) -> list[Problem]:
    roles = roles_of(props)
    names = [r.get("name") for r in roles]
    problems = [Problem("RoleRequired", CSM.format(f"Role '{req}' is required in computeProfile.roles"),
                        "computeProfile.roles") for req in ("headnode", "workernode") if req not in names]
    for dup in sorted({n for n in names if isinstance(n, str) and names.count(n) > 1}):
        problems.append(Problem("DuplicateRole", CSM.format(f"Role '{dup}' is given more than once"), dup))
    for role in roles:
        problems += one_role_problems(role, kind_of(props))
    return problems


def one_role_problems(role: dict[str, Any], kind: str) -> list[Problem]:
    name = role.get("name")
    if not isinstance(name, str) or name not in catalog.NODE_TYPES:
        return [Problem("UnknownRole", CSM.format(
            f"Role '{name}' is not a valid role name; valid names: {', '.join(catalog.NODE_TYPES)}"), str(name))]
    problems = []
    count = role.get("targetInstanceCount")
    low, high = ROLE_COUNTS[name]
    if not isinstance(count, int) or isinstance(count, bool) or count < low or (high and count > high):
        want = f"exactly {low}" if low == high else f"at least {low}"
        problems.append(Problem("InvalidInstanceCount", CSM.format(
            f"Role '{name}' has targetInstanceCount {count!r}; it must be {want}"), name))
    size_name = obj(role.get("hardwareProfile")).get("vmSize")
    if size_name is not None:
        size = catalog.vm_size(size_name)
        if size is None or not catalog.is_size_allowed(name, size):
            problems.append(Problem("InvalidVmSize", CSM.format(
                f"VM size '{size_name}' provided in the CSM document is invalid or not supported for role "
                f"'{name}'"), name))
    if name != "kafkamanagementnode":  # its credentials are service-managed (the user name is replaced)
        problems += login_problems(role)
    if name == "workernode" and kind == "kafka":
        problems += data_disk_problems(role)
    return problems


def login_problems(role: dict[str, Any]) -> list[Problem]:
    linux = obj(obj(role.get("osProfile")).get("linuxOperatingSystemProfile"))
    name = role.get("name")
    user = linux.get("username")
    if not isinstance(user, str) or not user or len(user) > 64 or user.lower() in RESERVED_SSH_USERS \
            or set(user) & HTTP_USER_FORBIDDEN:
        return [Problem("InvalidSshUserName", CSM.format(
            f"SSH user name '{user}' of role '{name}' is missing, reserved or invalid"), name)]
    password = linux.get("password")
    keys = arr(obj(linux.get("sshProfile")).get("publicKeys"))
    if password is None and not keys:
        return [Problem("SshCredentialRequired", CSM.format(
            f"Role '{name}' needs an SSH password or at least one SSH public key"), name)]
    if password is not None and (not isinstance(password, str) or not 6 <= len(password) <= 72):
        return [Problem("InvalidSshPassword", CSM.format(
            f"The SSH password of role '{name}' must be 6 to 72 characters long"), name)]
    return []


def data_disk_problems(role: dict[str, Any]) -> list[Problem]:
    groups = arr(role.get("dataDisksGroups"))
    disks = obj(groups[0]).get("disksPerNode") if groups else None
    if not isinstance(disks, int) or isinstance(disks, bool) or not 1 <= disks <= MAX_DISKS_PER_NODE:
        return [Problem("DataDisksRequired", CSM.format(
            f"Kafka worker nodes need managed data disks: workernode dataDisksGroups[0].disksPerNode must be "
            f"between 1 and {MAX_DISKS_PER_NODE} (got {disks!r})"), "workernode")]
    return []


def storage_problems(props: dict[str, Any]) -> list[Problem]:
    accounts = arr(obj(props.get("storageProfile")).get("storageaccounts"))
    if not accounts:
        return [Problem("StorageAccountRequired", CSM.format(
            "storageProfile.storageaccounts must name the cluster's default storage account"), "storageProfile")]
    problems = []
    for acct in accounts:
        problems += one_storage_problems(obj(acct))
    if sum(1 for a in accounts if obj(a).get("isDefault") is True) != 1:
        problems.append(Problem("DefaultStorageAccountRequired", CSM.format(
            "Exactly one storage account must be the default (isDefault: true)"), "storageProfile"))
    return problems


def one_storage_problems(acct: dict[str, Any]) -> list[Problem]:
    name = acct.get("name")
    if not isinstance(name, str) or not name:
        return [Problem("StorageAccountNameRequired",
                        "Storage account 'name' in storage profile cannot be null or empty", "storageProfile")]
    m = HOST_RULES.match(name.lower())
    if m is None:
        return [Problem("InvalidStorageAccountName", CSM.format(
            f"Storage account name '{name}' must be the account's blob or dfs host, such as "
            f"'mystorage.blob.core.windows.net' (no scheme, no path)"), name)]
    if m.group(2) == "blob" and not acct.get("container"):
        return [Problem("StorageContainerRequired", CSM.format(
            f"A container is required for storage account '{name}'"), name)]
    if m.group(2) == "dfs" and not acct.get("fileSystem"):
        return [Problem("StorageFileSystemRequired", CSM.format(
            f"A fileSystem is required for Data Lake Storage Gen2 account '{name}'"), name)]
    if not (acct.get("key") or acct.get("saskey") or acct.get("msiResourceId")):
        return [Problem("StorageAccountKeyRequired", CSM.format(
            f"Storage account '{name}' needs a key (or a managed identity for Data Lake Storage Gen2)"), name)]
    return []


def rest_proxy_problems(props: dict[str, Any]) -> list[Problem]:
    rest = props.get("kafkaRestProperties")
    if rest is None:
        return []
    info = obj(obj(rest).get("clientGroupInfo"))
    if not is_guid(info.get("groupId")) or not isinstance(info.get("groupName"), str) or not info["groupName"]:
        return [Problem("InvalidClientGroupInfo", CSM.format(
            "kafkaRestProperties.clientGroupInfo needs the security group's object id (groupId, a GUID) and its "
            "name (groupName)"), "kafkaRestProperties.clientGroupInfo")]
    return []


def retired_problem(props: dict[str, Any]) -> Problem | None:
    """A create request for a retired HDInsight version: refused as Azure does since the retirement."""
    version = version_of(props)
    if version is None or version.short not in RETIRED_VERSIONS:
        return None
    return Problem("RetiredClusterVersion", CSM.format(
        f"HDInsight version '{version.short}' was retired on {RETIRED_VERSIONS[version.short]} and can no longer be "
        f"used to create clusters. Use version {SUPPORTED_VERSION}"), "clusterVersion")


def network_properties_problems(props: dict[str, Any]) -> list[Problem]:
    """networkProperties: resourceProviderConnection Inbound|Outbound, privateLink Enabled|Disabled; Private Link
    only with the Outbound connection and in a virtual network."""
    net = props.get("networkProperties")
    if net is None:
        return []
    if not isinstance(net, dict):
        return [Problem("InvalidNetworkProperties", CSM.format("networkProperties must be a JSON object"),
                        "networkProperties")]
    problems = []
    rpc, link = net.get("resourceProviderConnection"), net.get("privateLink")
    if rpc is not None and str(rpc).lower() not in ("inbound", "outbound"):
        problems.append(Problem("InvalidNetworkProperties", CSM.format(
            f"networkProperties.resourceProviderConnection '{rpc}' is not one of Inbound, Outbound"),
            "networkProperties.resourceProviderConnection"))
    if link is not None and str(link).lower() not in ("enabled", "disabled"):
        problems.append(Problem("InvalidNetworkProperties", CSM.format(
            f"networkProperties.privateLink '{link}' is not one of Enabled, Disabled"),
            "networkProperties.privateLink"))
    if str(link).lower() == "enabled":
        if str(rpc).lower() != "outbound":
            problems.append(Problem("PrivateLinkRequiresOutboundConnection", CSM.format(
                "Private Link can be enabled only when networkProperties.resourceProviderConnection is "
                f"'Outbound' ({PRIVATE_LINK_DOC})"), "networkProperties.privateLink"))
        if not subnets_of(props):
            problems.append(Problem("PrivateLinkRequiresVirtualNetwork", CSM.format(
                "A Private Link cluster must be deployed into a virtual network: give every role a "
                f"virtualNetworkProfile ({PRIVATE_LINK_DOC})"), "networkProperties.privateLink"))
    return problems


def document_problems(props: Any, *, refuse_retired: bool = True) -> list[Problem]:
    """Every problem the RP finds in the create document itself."""
    if not isinstance(props, dict):
        return [Problem("InvalidRequestContent", "The request content was invalid: 'properties' must be a JSON "
                        "object.", "properties")]
    problems = definition_problems(props)
    if problems and problems[0].code == "UnsupportedClusterType":
        return problems
    retired = retired_problem(props) if refuse_retired else None
    return ([retired] if retired else []) + (
        problems + gateway_problems(props) + role_problems(props) + storage_problems(props)
        + rest_proxy_problems(props) + network_properties_problems(props))


# -- quota ------------------------------------------------------------------------------------------------------
def requested_cores(props: dict[str, Any]) -> int:
    """Cores of the roles the request names (the recorded quotaInfo.coresUsed counts those, not the service-added
    zookeeper nodes)."""
    total = 0
    for role in roles_of(props):
        size = catalog.vm_size(obj(role.get("hardwareProfile")).get("vmSize") or default_size(role.get("name")))
        count = role.get("targetInstanceCount")
        if size is not None and isinstance(count, int):
            total += size.cores * count
    return total


def default_size(role_name: Any) -> str:
    return catalog.KAFKA_DEFAULT_SIZES.get(catalog.NODE_TYPES.get(role_name, ""), "STANDARD_E4_V3")


def quota_problem(subscription: str, name: str, required: int, in_use: int, limit: int) -> Problem | None:
    if required <= limit - in_use:
        return None
    return Problem("InsufficientCoreQuota",
                   f"User SubscriptionId '{subscription}' does not have cores left to create resource '{name}'. "
                   f"Required: {required}, Available: {max(0, limit - in_use)}.", "quota")


# -- deployment failures ----------------------------------------------------------------------------------------
def _optional(module: str):
    """The storage/network providers are separate packages; until one exists its checks are skipped."""
    import importlib

    try:
        return importlib.import_module(f"provision.emulator.services.arm.{module}.models")
    except ImportError:
        return None


def blob_host(name: str) -> str:
    account = name.lower().split(".", 1)[0]
    return f"{account}.blob.core.windows.net"


def storage_failure(state, props: dict[str, Any]) -> Failure | None:
    storage = _optional("storage")
    if storage is None or not hasattr(storage, "account_by_blob_host"):
        return None
    for acct in arr(obj(props.get("storageProfile")).get("storageaccounts")):
        acct = obj(acct)
        name = acct.get("name", "")
        doc = storage.account_by_blob_host(state, blob_host(name))
        if doc is None:
            return Failure(FAIL_STORAGE, CSM.format(
                f"Storage account '{name}' could not be found. Create it first, or check the account name"))
        if acct.get("key") and acct["key"] not in storage.account_keys(state, doc):
            return Failure(FAIL_STORAGE, CSM.format(
                f"Unable to access storage account '{name}' with the key provided: the storage account key is "
                f"invalid. Use one of the keys that listKeys returns for the account"))
    return None


def subnets_of(props: dict[str, Any]) -> list[str]:
    """Subnet ids the roles are placed in; `subnet` may be a full id or a name within `id`'s VNet."""
    found: list[str] = []
    for role in roles_of(props):
        vnet = obj(role.get("virtualNetworkProfile"))
        subnet = vnet.get("subnet")
        if not isinstance(subnet, str) or not subnet:
            continue
        if not subnet.startswith("/") and isinstance(vnet.get("id"), str):
            subnet = f"{vnet['id'].rstrip('/')}/subnets/{subnet}"
        if subnet.lower() not in (s.lower() for s in found):
            found.append(subnet)
    return found


def network_failure(state, props: dict[str, Any]) -> Failure | None:
    network = _optional("network")
    if network is None or not hasattr(network, "inbound_allows"):
        return None
    rest_proxy = props.get("kafkaRestProperties") is not None
    net = obj(props.get("networkProperties"))
    outbound = str(net.get("resourceProviderConnection")).lower() == "outbound"
    private_link = str(net.get("privateLink")).lower() == "enabled"
    for subnet in subnets_of(props):
        found = network.find_subnet(state, subnet) if hasattr(network, "find_subnet") else {}
        if found is None:
            return Failure(FAIL_NETWORK, CSM.format(
                f"Subnet '{subnet}' given in virtualNetworkProfile could not be found"))
        sp = obj((found or {}).get("properties"))
        if private_link and found and str(sp.get("privateLinkServiceNetworkPolicies", "Enabled")).lower() != \
                "disabled":
            return Failure(FAIL_NETWORK, CSM.format(
                f"Private Link needs privateLinkServiceNetworkPolicies disabled on subnet '{subnet}' "
                f"({PRIVATE_LINK_DOC})"))
        if private_link and found and not sp.get("natGateway") and not sp.get("routeTable"):
            return Failure(FAIL_NETWORK, CSM.format(
                f"Private Link clusters use standard load balancers without outbound NAT: subnet '{subnet}' needs "
                f"a NAT gateway or a route to a firewall for the cluster's outbound dependencies "
                f"({PRIVATE_LINK_DOC})"))
        # With the outbound resource provider connection the RP never connects in: no inbound 443 from its
        # service tag is needed ('Restrict public connectivity in Azure HDInsight').
        if not outbound and not network.inbound_allows(state, subnet, 443):
            return Failure(FAIL_NETWORK, CSM.format(
                f"The network security group of subnet '{subnet}' blocks inbound traffic on port 443. HDInsight "
                f"needs inbound 443 from its health and management services (service tag 'HDInsight')"))
        if rest_proxy and not network.inbound_allows(state, subnet, 9400):
            return Failure(FAIL_NETWORK, CSM.format(
                f"Kafka REST proxy enabled cluster must allow inbound traffic on port 9400: the network security "
                f"group of subnet '{subnet}' blocks it"))
    return None


def rest_proxy_failure(state, props: dict[str, Any]) -> Failure | None:
    info = obj(obj(props.get("kafkaRestProperties")).get("clientGroupInfo"))
    if not info:
        return None
    group_id, group_name = str(info.get("groupId")), info.get("groupName")
    group = state.directory.get("group", group_id)
    if group is None:
        return Failure(FAIL_REST_PROXY, CSM.format(
            f"The Kafka REST proxy client group '{group_name}' ({group_id}) was not found in the directory"))
    if group.get("securityEnabled") is not True:
        return Failure(FAIL_REST_PROXY, CSM.format(
            f"The Kafka REST proxy client group '{group.get('displayName', group_name)}' ({group_id}) is not a "
            f"security group; Kafka REST proxy access needs a Microsoft Entra security group"))
    return None


def deployment_failure(state, props: dict[str, Any]) -> Failure | None:
    """The first failure the deployment would meet, in the order the RP builds a cluster."""
    return storage_failure(state, props) or network_failure(state, props) or rest_proxy_failure(state, props)


def deployment_problems(state, props: dict[str, Any]) -> list[Problem]:
    """Every deployment failure, as validateCreateRequest reports them (it checks before any deployment)."""
    failures = [storage_failure(state, props), network_failure(state, props), rest_proxy_failure(state, props)]
    return [Problem(code, f.message) for f, code in
            zip(failures, ("StorageAccountValidationFailed", "NetworkSecurityGroupValidationFailed",
                           "ClientGroupValidationFailed")) if f is not None]
