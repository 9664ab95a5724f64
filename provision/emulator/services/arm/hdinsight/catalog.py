"""What the HDInsight resource provider offers: regions, cluster versions, VM sizes and their per-role filters.

Static data taken from recorded Azure traffic (the 2023 az-cli recording of a Kafka REST proxy cluster,
`GET .../locations/southcentralus/billingSpecs`) and the HDInsight version docs, trimmed to what a Kafka cluster
uses. Everything here is read-only; nothing depends on emulator state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# -- regions ----------------------------------------------------------------------------------------------------
# ARM answers with the display name in a cluster's `location` ("South Central US" for "southcentralus", as the
# recording shows), and accepts either spelling on input.
REGIONS: dict[str, str] = {
    "eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2", "westus3": "West US 3",
    "centralus": "Central US", "northcentralus": "North Central US", "southcentralus": "South Central US",
    "westcentralus": "West Central US", "canadacentral": "Canada Central", "canadaeast": "Canada East",
    "brazilsouth": "Brazil South", "northeurope": "North Europe", "westeurope": "West Europe",
    "uksouth": "UK South", "ukwest": "UK West", "francecentral": "France Central",
    "germanywestcentral": "Germany West Central", "switzerlandnorth": "Switzerland North",
    "norwayeast": "Norway East", "swedencentral": "Sweden Central", "italynorth": "Italy North",
    "polandcentral": "Poland Central", "eastasia": "East Asia", "southeastasia": "Southeast Asia",
    "japaneast": "Japan East", "japanwest": "Japan West", "koreacentral": "Korea Central",
    "koreasouth": "Korea South", "australiaeast": "Australia East", "australiasoutheast": "Australia Southeast",
    "australiacentral": "Australia Central", "centralindia": "Central India", "southindia": "South India",
    "westindia": "West India", "uaenorth": "UAE North", "southafricanorth": "South Africa North",
    "qatarcentral": "Qatar Central", "israelcentral": "Israel Central",
}


def region_key(location: str) -> str | None:
    """'South Central US' / 'southcentralus' → 'southcentralus'; None when Azure has no such HDInsight region."""
    k = location.replace(" ", "").lower()
    return k if k in REGIONS else None


# -- cluster versions -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Version:
    short: str  # what clients send: "4.0"
    build: str  # what the service answers in clusterVersion
    hdp: str  # clusterHdpVersion once Running ("" while creating, as recorded)
    blueprint_stamp: str  # the blueprint file's build stamp
    kafka: tuple[str, ...]  # Kafka component versions this HDInsight version offers (first = default)


# 4.0 build, HDP version and blueprint stamp are the ones of the recorded 2023 cluster; 5.x follow the same
# build scheme (HDInsight 5.x clusters are not HDP based; the emulator reports the build there).
VERSIONS: dict[str, Version] = {
    "4.0": Version("4.0", "4.0.3000.1", "4.1.12.6", "2212021230", ("2.1", "2.4")),
    "5.0": Version("5.0", "5.0.3000.0", "5.0.3000.0", "2302250400", ("2.4",)),
    "5.1": Version("5.1", "5.1.3000.0", "5.1.3000.0", "2307180942", ("3.2",)),
}
CLUSTER_KINDS = ("kafka", "hadoop", "spark", "hbase", "interactivehive")


def version_of(cluster_version: str) -> Version | None:
    """'4.0' or a full build such as '4.0.3000.1' (Terraform accepts both forms)."""
    parts = cluster_version.split(".")
    if len(parts) not in (2, 4) or not all(p.isdigit() for p in parts):
        return None
    return VERSIONS.get(".".join(parts[:2]))


# -- VM sizes ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VmSize:
    name: str
    cores: int
    memory_mb: int
    max_data_disks: int
    disk_tier: str
    vm_disk_mb: int
    web_worker_disk_mb: int
    meter: str | None

    def properties(self) -> dict[str, Any]:
        """A billingSpecs `vmSizeProperties` entry, as recorded."""
        return {"name": self.name.upper(), "cores": self.cores, "dataDiskStorageTier": self.disk_tier,
                "label": f"{self.name} ({self.cores} cores, {self.memory_mb} MB)",
                "maxDataDiskCount": self.max_data_disks, "memoryInMb": self.memory_mb,
                "supportedByVirtualMachines": False, "supportedByWebWorkerRoles": self.web_worker_disk_mb > 0,
                "virtualMachineResourceDiskSizeInMb": self.vm_disk_mb,
                "webWorkerResourceDiskSizeInMb": self.web_worker_disk_mb}


_SIZES = [  # name, cores, memory MB, max data disks, disk tier, VM disk MB, web-worker disk MB, billing meter
    VmSize("Large", 4, 8192, 8, "Standard_LRS", 40960, 40960, None),
    VmSize("Small", 1, 2048, 2, "Standard_LRS", 10240, 10240, None),
    VmSize("Medium", 2, 4096, 4, "Standard_LRS", 20480, 20480, None),
    VmSize("ExtraLarge", 8, 16384, 16, "Standard_LRS", 81920, 81920, None),
    VmSize("Standard_A1_V2", 1, 2048, 2, "Standard_LRS", 10240, 10240, "f1116ded-caef-4753-a228-0ee3eb457004"),
    VmSize("Standard_A2_V2", 2, 4096, 4, "Standard_LRS", 20480, 20480, "44d78b2e-d85e-4eb6-a566-026c657338f3"),
    VmSize("Standard_A4_V2", 4, 8192, 8, "Standard_LRS", 40960, 40960, "5359ae82-eed0-4ad4-847e-e3da67cd7d5f"),
    VmSize("Standard_A8_V2", 8, 16384, 16, "Standard_LRS", 81920, 81920, "9b92df7e-73c6-4f46-8375-38464b1d7815"),
    VmSize("Standard_D1_v2", 1, 3584, 2, "Standard_LRS", 51200, 51200, None),
    VmSize("Standard_D2_v2", 2, 7168, 4, "Standard_LRS", 102400, 102400, None),
    VmSize("Standard_D3_v2", 4, 14336, 8, "Standard_LRS", 204800, 204800, None),
    VmSize("Standard_D4_v2", 8, 28672, 16, "Standard_LRS", 409600, 409600, None),
    VmSize("Standard_D5_v2", 16, 57344, 32, "Standard_LRS", 819200, 819200, None),
    VmSize("Standard_D12_v2", 4, 28672, 8, "Standard_LRS", 204800, 204800, None),
    VmSize("Standard_D13_v2", 8, 57344, 16, "Standard_LRS", 409600, 409600, None),
    VmSize("Standard_D14_v2", 16, 114688, 32, "Standard_LRS", 819200, 819200, None),
    VmSize("Standard_DS3_v2", 4, 14336, 8, "Premium_LRS", 28672, 0, None),
    VmSize("Standard_DS4_v2", 8, 28672, 16, "Premium_LRS", 57344, 0, None),
    VmSize("Standard_E2_v3", 2, 16384, 8, "Standard_LRS", 51200, 0, "44f120ce-6649-478c-a2f9-b775daae38f4"),
    VmSize("Standard_E4_v3", 4, 34360, 8, "Standard_LRS", 102400, 0, "109b7532-fd90-4d26-b136-ef7944e22f28"),
    VmSize("Standard_E8_v3", 8, 68720, 16, "Standard_LRS", 204800, 0, "d8ab25a8-2df5-4666-a41b-8c0157ab7de1"),
    VmSize("Standard_E16_v3", 16, 137439, 32, "Standard_LRS", 409600, 0, "604606a7-dccc-4c81-a99b-5545c4985b35"),
    VmSize("Standard_E32_v3", 32, 274878, 32, "Standard_LRS", 819200, 0, "701b7a31-b18a-4253-948c-47a58e1bb58a"),
]
VM_SIZES: dict[str, VmSize] = {s.name.lower(): s for s in _SIZES}


def vm_size(name: str) -> VmSize | None:
    """VM size names are case-insensitive ("STANDARD_E4_V3", "Standard_E4_v3", "standard_e4_v3")."""
    return VM_SIZES.get(name.lower()) if isinstance(name, str) else None


# -- roles ------------------------------------------------------------------------------------------------------
# Role name on the wire → node type in billingSpecs filters.
NODE_TYPES = {"headnode": "HeadNodeRole", "workernode": "WorkerNodeRole", "zookeepernode": "ZookeeperRole",
              "kafkamanagementnode": "KafkaManagementNodeRole", "edgenode": "EdgeNodeRole",
              "idbrokernode": "HIBRole"}

# Sizes the recorded billingSpecs exclude per node type for every cluster flavor and version (the subset of the
# catalogue above): HDInsight refuses them with "VM size ... is invalid or not supported for role ...".
_SMALL_FOR_HEAD_WORKER = ("SMALL", "MEDIUM", "STANDARD_A1_V2", "STANDARD_A2_V2", "STANDARD_D1_V2", "STANDARD_D2_V2")
EXCLUDED: dict[str, tuple[str, ...]] = {
    "HeadNodeRole": _SMALL_FOR_HEAD_WORKER,
    "WorkerNodeRole": _SMALL_FOR_HEAD_WORKER,
    "EdgeNodeRole": _SMALL_FOR_HEAD_WORKER,
}

# Kafka defaults, as the 2023 recording's billingSpecs "Default" filters give them. The service itself fills a
# missing zookeeper role with 3 x Standard_A2_v2 (what the recorded cluster came back with), not the Default.
KAFKA_DEFAULT_SIZES = {"HeadNodeRole": "STANDARD_E4_V3", "WorkerNodeRole": "STANDARD_E4_V3",
                       "ZookeeperRole": "STANDARD_A4_V2", "KafkaManagementNodeRole": "STANDARD_E8_V3"}
KAFKA_RECOMMENDED_SIZES = {
    "HeadNodeRole": ("STANDARD_D3_V2", "STANDARD_D4_V2", "STANDARD_E4_V3", "STANDARD_E8_V3"),
    "WorkerNodeRole": ("STANDARD_D3_V2", "STANDARD_D4_V2", "STANDARD_DS3_V2", "STANDARD_DS4_V2", "STANDARD_E4_V3",
                       "STANDARD_E8_V3"),
    "ZookeeperRole": ("STANDARD_A4_V2", "STANDARD_D3_V2", "STANDARD_D4_V2"),
    "KafkaManagementNodeRole": ("STANDARD_D3_V2", "STANDARD_D4_V2"),
}
SERVICE_ZOOKEEPER = {"size": "standard_a2_v2", "count": 3}
KAFKA_MANAGEMENT_DEFAULT_SIZE = "standard_e8_v3"


def is_size_allowed(role: str, size: VmSize) -> bool:
    return size.name.upper() not in EXCLUDED.get(NODE_TYPES.get(role, ""), ())


def _filter(mode: str, node_types: list[str], sizes: list[str], flavors: list[str] | None = None) -> dict[str, Any]:
    return {"filterMode": mode, "regions": ["*"], "clusterFlavors": flavors or ["*"], "nodeTypes": node_types,
            "clusterVersions": ["*"], "osType": ["Linux"], "vmSizes": sizes, "espApplied": None,
            "computeIsolationSupported": None}


def billing_specs(location: str) -> dict[str, Any]:
    """The billingSpecs answer: the shape of HDI_Locations_ListBillingSpecs.json, with recorded values."""
    filters = [_filter("Exclude", ["*"], ["EXTRASMALL"])]
    filters += [_filter("Exclude", ["HeadNodeRole", "WorkerNodeRole", "EdgeNodeRole"], [s])
                for s in _SMALL_FOR_HEAD_WORKER]
    for node_type, sizes in KAFKA_RECOMMENDED_SIZES.items():
        filters += [_filter("Recommend", [node_type], [s], ["Kafka"]) for s in sizes]
    filters += [_filter("Default", [node_type], [s], ["Kafka"]) for node_type, s in KAFKA_DEFAULT_SIZES.items()]
    filters.append(_filter("Default", ["EdgeNodeRole"], ["STANDARD_E4_V3"]))
    filters.append(_filter("Default", ["HIBRole"], ["STANDARD_A2_V2"]))
    return {
        "vmSizes": [s.name.upper() for s in _SIZES],
        "vmSizesWithEncryptionAtHost": [s.name for s in _SIZES if s.disk_tier == "Premium_LRS"],
        "vmSizeFilters": filters,
        "vmSizeProperties": [s.properties() for s in _SIZES],
        "billingResources": [
            {"region": location,
             "billingMeters": [{"meterParameter": s.name, "meter": s.meter, "unit": "VMHours"}
                               for s in _SIZES if s.meter],
             "diskBillingMeters": [{"diskRpMeter": "CF813117-F9C6-4CFF-83F1-BFCE1CC5A4CD", "sku": "S30",
                                    "tier": "Standard"},
                                   {"diskRpMeter": "2B916213-FE52-45BB-AAB5-B31027FE35AD", "sku": "P30",
                                    "tier": "Premium"}]},
            {"region": "default",
             "billingMeters": [{"meterParameter": "default", "meter": "0c6206c1-0315-42b5-9dfe-5a97cc653f9a",
                                "unit": "CoreHours"},
                               {"meterParameter": "Kafka", "meter": "26a4647c-1308-4c70-884d-6608183e8aa6",
                                "unit": "CoreHours"}],
             "diskBillingMeters": [{"diskRpMeter": "82CD70AB-1AEE-4B30-BC04-8B71E1204DBC", "sku": "All",
                                    "tier": "Standard"}]},
        ],
    }


# Component versions per HDInsight version, by cluster kind (HDInsight's component version docs). 4.0 is HDP 3.1
# based; 5.x are not HDP based. Storm, R Server and the Windows (PaaS) versions were retired before 4.0.
COMPONENTS: dict[str, dict[str, str]] = {
    "4.0": {"HDP": "3.1", "Hadoop": "3.1.1", "Spark": "2.4", "HBase": "2.1.6", "InteractiveHive": "3.1"},
    "5.0": {"Hadoop": "3.1.1", "Spark": "3.1", "HBase": "2.1.6", "InteractiveHive": "3.1"},
    "5.1": {"Hadoop": "3.3.4", "Spark": "3.3", "HBase": "2.4.11", "InteractiveHive": "3.1.2"},
}


def capabilities(location_display: str, cores_used: int, quota: int) -> dict[str, Any]:
    """The capabilities answer in the shape of GetHDInsightCapabilities.json: versions (IaaS; the PaaS list is
    empty, those versions are retired), regions, VM sizes and their filters (as billingSpecs gives them, in this
    API's capitalised keys), features, quota."""
    sizes = [s.name.upper() for s in _SIZES]
    filters = [{"FilterMode": f["filterMode"], "Regions": f["regions"], "ClusterFlavors": f["clusterFlavors"],
                "NodeTypes": f["nodeTypes"], "ClusterVersions": f["clusterVersions"], "VMSizes": f["vmSizes"]}
               for f in billing_specs(location_display)["vmSizeFilters"]]
    return {
        "versions": {
            "paas": {"available": []},
            "iaas": {"available": [
                {"friendlyName": v.short, "displayName": f"Version {v.build}", "isDefault": v.short == "5.1",
                 "componentVersions": {**COMPONENTS.get(v.short, {}), "Kafka": v.kafka[0]}}
                for v in VERSIONS.values()]}},
        "regions": {"paas": {"available": []}, "iaas": {"available": [location_display.upper()]}},
        "vmsizes": {"paas": {"available": []}, "iaas": {"available": sizes}},
        "vmsize_filters": filters,
        "features": ["KAFKA_REST_PROXY", "IAAS_VALIDATE_NSG", "VIRTUAL_NETWORK_ENABLED", "CLUSTER_RESIZE"],
        "quota": {"coresUsed": cores_used, "maxCoresAllowed": quota,
                  "regionalQuotas": [{"regionName": location_display, "coresUsed": cores_used,
                                      "coresAvailable": max(0, quota - cores_used)}]},
    }