"""Azure clouds: the endpoints each one uses, and the local emulator as one more cloud."""

from __future__ import annotations

from dataclasses import dataclass, replace

KAFKAREST_SCOPE = "https://hib.azurehdinsight.net/.default"


@dataclass(frozen=True)
class Cloud:
    name: str
    authority: str  # Entra ID (AZURE_AUTHORITY_HOST)
    arm: str  # Azure Resource Manager
    graph: str  # Microsoft Graph, without the version segment
    arm_scope: str
    graph_scope: str
    hdinsight_suffix: str  # <cluster>-kafkarest.<suffix>
    blob_suffix: str  # <account>.blob.<suffix>
    kafkarest_scope: str = KAFKAREST_SCOPE
    ca_bundle: str | None = None  # a private CA to trust (the emulator's); None: the system store
    well_known_authority: bool = True  # False: msal must not run instance discovery against it

    @property
    def graph_v1(self) -> str:
        return f"{self.graph}/v1.0"


PUBLIC = Cloud("public", "https://login.microsoftonline.com", "https://management.azure.com",
               "https://graph.microsoft.com", "https://management.azure.com/.default",
               "https://graph.microsoft.com/.default", "azurehdinsight.net", "core.windows.net")
CHINA = Cloud("china", "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn",
              "https://microsoftgraph.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default",
              "https://microsoftgraph.chinacloudapi.cn/.default", "azurehdinsight.cn", "core.chinacloudapi.cn")
USGOV = Cloud("usgov", "https://login.microsoftonline.us", "https://management.usgovcloudapi.net",
              "https://graph.microsoft.us", "https://management.usgovcloudapi.net/.default",
              "https://graph.microsoft.us/.default", "azurehdinsight.us", "core.usgovcloudapi.net")
CLOUDS = {c.name: c for c in (PUBLIC, CHINA, USGOV)}


def local(url: str, ca_bundle: str) -> Cloud:
    """The emulator: one base URL for every service; tokens still carry the public audiences."""
    return replace(PUBLIC, name="local", authority=url, arm=url, graph=url, ca_bundle=ca_bundle,
                   well_known_authority=False)
