"""`provision doctor`: why does (or would) this not work? One check per line — PASS, WARN or FAIL with the fix.

Two audiences:
- the operator (`provision doctor`): where the credential came from, tenant, subscription, the resource providers
  registered, the Graph permissions and ARM rights `up` needs (read, never written), the HDInsight core quota, and
  the environment's state;
- one client (`provision doctor --config CLIENT.env`): its configuration, token acquisition (with the AADSTS cause
  when Entra refuses), the token's claims that matter (audience = the REST proxy's scope, tenant, app and object
  id, expiry), direct or transitive membership of the cluster's group, the group's type, the cluster's
  `clientGroupInfo` pointing at that group, the NSG rules that admit 443/9400 for the client's network, the
  endpoint's DNS and TLS, and a live call.

Nothing here writes: every check is a read (or a token request). The operator's context (spec, credential) is used
for the client checks that need Graph or ARM; without it those are skipped with a WARN.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
# Graph application permissions `up` and `access` need (any one of each set).
GRAPH_NEEDS = {
    "applications": ({"Application.ReadWrite.OwnedBy"}, {"Application.ReadWrite.All"}),
    "groups": ({"Group.Create", "GroupMember.ReadWrite.All"}, {"Group.ReadWrite.All"}),
}
# ARM actions `up` performs (checked against Microsoft.Authorization/permissions).
ARM_NEEDS = ("Microsoft.Resources/subscriptions/resourceGroups/write", "Microsoft.Network/networkSecurityGroups/write",
             "Microsoft.Network/virtualNetworks/write", "Microsoft.Storage/storageAccounts/write",
             "Microsoft.Storage/storageAccounts/listKeys/action", "Microsoft.HDInsight/clusters/write")


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<22} {self.detail}" + (f"\n      fix: {self.fix}" if self.fix else "")


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    on_check: Callable[[Check], None] | None = None

    def add(self, name: str, status: str, detail: str, fix: str = "") -> Check:
        c = Check(name, status, detail, fix)
        self.checks.append(c)
        if self.on_check:
            self.on_check(c)
        return c

    @property
    def ok(self) -> bool:
        return not any(c.status == FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        counts = {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, WARN, FAIL)}
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks], "summary": counts}


def aadsts(error: Exception | str) -> str:
    """The AADSTS code and its first sentence from an Entra error, else the first line."""
    text = " ".join(str(getattr(error, "message", None) or error).split())
    m = re.search(r"(AADSTS\d+)[:\s]+([^.]*\.?)", text)
    if m:
        return f"{m.group(1)}: {m.group(2).strip()}"
    return text[:240]


AADSTS_FIXES = {
    "AADSTS7000215": "the client secret is wrong or was removed: rotate it (`provision access rotate NAME`)",
    "AADSTS7000222": "the client secret has expired: rotate it (`provision access rotate NAME`)",
    "AADSTS700016": "no such application in this tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID",
    "AADSTS90002": "no such tenant: check AZURE_TENANT_ID (and AZURE_AUTHORITY_HOST outside the public cloud)",
    "AADSTS500011": "the resource of the scope is not known in the tenant: check KAFKAREST_SCOPE",
    "AADSTS70011": "the scope is invalid: use https://hib.azurehdinsight.net/.default",
}


def token_fix(cause: str) -> str:
    code = cause.split(":", 1)[0]
    return AADSTS_FIXES.get(code, "check AZURE_TENANT_ID, AZURE_CLIENT_ID, the secret or certificate, and "
                                  "AZURE_AUTHORITY_HOST")


def claims(token: str) -> dict[str, Any]:
    from provision.kafkarest.client import token_claims

    return token_claims(token)


async def _thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


# -- operator -------------------------------------------------------------------------------------------------------
async def operator_checks(ctx: Any, report: Report) -> None:
    source = ("the emulator's operator service principal (operator.json in its data dir)" if ctx.cloud.name == "local"
              else "DefaultAzureCredential")
    try:
        arm_token = await _thread(ctx.credential.get_token, ctx.cloud.arm_scope)
    except Exception as e:  # noqa: BLE001 — any credential failure is this check's answer
        cause = aadsts(e)
        report.add("credential", FAIL, f"{source}: no token for ARM ({cause})",
                   "sign in (`az login`, AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID, managed or workload "
                   "identity)")
        return
    chosen = getattr(ctx.credential, "_successful_credential", None)
    if chosen is not None:
        source = f"DefaultAzureCredential → {type(chosen).__name__}"
    c = claims(arm_token.token)
    who = c.get("upn") or c.get("unique_name") or c.get("app_displayname") or c.get("appid") or c.get("oid")
    report.add("credential", PASS, f"{source}; signed in as {who} (object id {c.get('oid')})")
    tid = c.get("tid")
    if tid and tid.lower() != ctx.tenant_id.lower():
        report.add("tenant", FAIL, f"the credential's tenant is {tid}, the environment's is {ctx.tenant_id}",
                   "set tenant (PROVISION_TENANT) or sign in to the environment's tenant")
    else:
        report.add("tenant", PASS, ctx.tenant_id)
    await _providers(ctx, report)
    await _graph_permissions(ctx, report)
    await _arm_rights(ctx, report)
    await _quota(ctx, report)
    await _environment(ctx, report)


async def _providers(ctx: Any, report: Report) -> None:
    from azure.core.exceptions import HttpResponseError

    namespaces = ["Microsoft.HDInsight", "Microsoft.Network", "Microsoft.Storage"]
    if ctx.spec.values.get("secrets.key_vault"):
        namespaces.append("Microsoft.KeyVault")
    try:
        states = {ns: (await ctx.arm_call(ctx.resource.providers.get, ns)).registration_state for ns in namespaces}
    except HttpResponseError as e:
        report.add("subscription", FAIL, f"{ctx.subscription_id}: cannot read its resource providers "
                                         f"({getattr(e, 'message', e)})".splitlines()[0],
                   "check the subscription id and that the credential has a role on it (Reader at least)")
        return
    report.add("subscription", PASS, ctx.subscription_id)
    missing = [ns for ns, state in states.items() if str(state).lower() != "registered"]
    if missing:
        report.add("resource providers", FAIL, ", ".join(f"{ns} {states[ns]}" for ns in missing),
                   " && ".join(f"az provider register --namespace {ns}" for ns in missing))
    else:
        report.add("resource providers", PASS, ", ".join(f"{ns} Registered" for ns in namespaces))


async def _graph_permissions(ctx: Any, report: Report) -> None:
    from provision import graphapi

    try:
        token = await _thread(ctx.credential.get_token, ctx.cloud.graph_scope)
    except Exception as e:  # noqa: BLE001
        report.add("graph permissions", FAIL, f"no token for Microsoft Graph ({aadsts(e)})",
                   "grant the credential's app Microsoft Graph access")
        return
    c = claims(token.token)
    granted = set(c.get("roles") or []) | set(str(c.get("scp") or "").split())
    if granted:
        missing = [what for what, options in GRAPH_NEEDS.items() if not any(o <= granted for o in options)]
        if missing:
            want = "; ".join(" or ".join(" + ".join(sorted(o)) for o in GRAPH_NEEDS[m]) for m in missing)
            report.add("graph permissions", FAIL, f"the token lacks what `up` needs for {', '.join(missing)}",
                       f"grant (and admin-consent) {want}")
            return
        report.add("graph permissions", PASS, ", ".join(sorted(granted & set().union(*[
            o for opts in GRAPH_NEEDS.values() for o in opts]))))
        return
    try:  # no permission claims (the emulator; some sign-ins): reads prove reading, writes are not tried
        await graphapi.call(ctx, "GET", "/applications?$top=1&$select=id")
        await graphapi.call(ctx, "GET", "/groups?$top=1&$select=id")
    except graphapi.GraphError as e:
        report.add("graph permissions", FAIL, f"cannot read applications/groups ({e})",
                   "grant Application.ReadWrite.OwnedBy and Group.ReadWrite.All (or the delegated equivalents)")
        return
    report.add("graph permissions", WARN, "the token carries no permission claims; reading applications and groups "
                                          "works, writing is not tried", "")


async def _arm_rights(ctx: Any, report: Report) -> None:
    """Microsoft.Authorization/permissions at the resource group (or the subscription while it does not exist)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.core.rest import HttpRequest

    rg = ctx.spec.values["resource_group"]
    try:
        exists = await ctx.arm_call(ctx.resource.resource_groups.check_existence, rg)
    except Exception:  # noqa: BLE001
        exists = False
    scope = f"/subscriptions/{ctx.subscription_id}" + (f"/resourceGroups/{rg}" if exists else "")
    url = f"{ctx.cloud.arm.rstrip('/')}{scope}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
    try:
        response = await ctx.arm_call(ctx.resource._client.send_request, HttpRequest("GET", url))
    except ResourceNotFoundError:
        response = None
    if response is None or response.status_code != 200:
        status = getattr(response, "status_code", 404)
        report.add("arm rights", WARN, f"Microsoft.Authorization/permissions answered {status} at {scope}: the "
                                       f"rights `up` needs could not be listed (reads work)",
                   "" if status == 501 else "give the credential Contributor on the subscription or resource group")
        return
    perms = response.json().get("value") or []

    def allowed(action: str) -> bool:
        def match(pattern: str) -> bool:
            return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), action, re.I) is not None

        return any(any(match(a) for a in p.get("actions") or []) and not any(match(n) for n in p.get("notActions")
                                                                              or []) for p in perms)

    missing = [a for a in ARM_NEEDS if not allowed(a)]
    if missing:
        report.add("arm rights", FAIL, f"at {scope} the credential may not {', '.join(missing)}",
                   "give it Contributor on the subscription (or the resource group, plus Network Contributor on a "
                   "VNet/NSG named by id)")
    else:
        report.add("arm rights", PASS, f"every action `up` performs is allowed at {scope}")


async def _quota(ctx: Any, report: Report) -> None:
    from provision.resources import hdinsight_kafka as hk

    v = ctx.spec.values
    try:
        sizes, cores = await asyncio.gather(hk.default_sizes(ctx), hk.core_usage(ctx))
    except Exception as e:  # noqa: BLE001
        report.add("quota", WARN, f"HDInsight usages in {v['location']} could not be read ({getattr(e, 'message', e)})"
                   .splitlines()[0])
        return
    need = hk.cores_needed(v, sizes)
    if cores is None or cores.get("limit") is None:
        report.add("quota", WARN, f"no core quota reported in {v['location']}")
        return
    try:
        existing = await hk.read_cluster(ctx)
    except Exception:  # noqa: BLE001
        existing = None
    used, limit = cores["currentValue"], cores["limit"]
    free = limit - used
    if existing is not None:
        report.add("quota", PASS, f"the cluster exists; {used} of {limit} cores in use in "
                                  f"{v['location']}")
    elif need > free:
        report.add("quota", FAIL, f"the cluster needs {need} cores, {free} of {limit} are free in "
                                  f"{v['location']}", "request more HDInsight quota or use smaller sizes / fewer "
                                                      "workers")
    else:
        report.add("quota", PASS, f"the cluster needs {need} cores; {free} of {limit} are free in "
                                  f"{v['location']}")


async def _environment(ctx: Any, report: Report) -> None:
    from provision import engine
    from provision.resources.base import props

    try:
        p = await engine.plan(ctx, preflight=False)
    except Exception as e:  # noqa: BLE001
        report.add("environment", FAIL, f"could not be read: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        return
    changes = p.all()
    blockers = [c for c in changes if c.action in engine.BLOCKING]
    pending = [c for c in changes if c.writes or c.action in ("wait", "drift")]
    cluster = p.actual.get("cluster")
    state = (f"cluster {props(cluster).get('provisioningState')} / {props(cluster).get('clusterState')}"
             if cluster else "no cluster")
    name = ctx.spec.values["name"]
    if blockers:
        c = blockers[0]
        report.add("environment", FAIL, f"{name}: {c.resource} {c.name} is {c.action}: {c.note}",
                   "see `provision plan`")
    elif pending:
        what = ", ".join(sorted({f"{c.resource} {c.action}" for c in pending}))
        report.add("environment", WARN, f"{name}: {state}; pending: {what}", "run `provision up`")
    else:
        report.add("environment", PASS, f"{name}: every resource as the spec says; {state}")


# -- one client -----------------------------------------------------------------------------------------------------
async def client_checks(ctx: Any | None, config_path: str, report: Report, *, client_cidrs: list[str] | None = None,
                        ) -> None:
    from provision import clientconfig
    from provision.kafkarest.client import DEFAULT_SCOPE
    from provision.kafkarest.errors import ValidationError

    try:
        cfg = clientconfig.load(config_path)
    except ValidationError as e:
        report.add("client config", FAIL, str(e), "fix the file (`provision access grant NAME --out FILE` writes "
                                                  "a complete one)")
        return
    report.add("client config", PASS, f"{config_path}: endpoint {cfg.endpoint}, client {cfg.client_id}, "
                                      f"{cfg.public()['credential']}")
    scope_ok = cfg.scope.rstrip("/").lower() == DEFAULT_SCOPE.rstrip("/").lower()
    report.add("scope", PASS if scope_ok else FAIL, cfg.scope + ("" if scope_ok else " is not the REST proxy's scope"),
               "" if scope_ok else f"set KAFKAREST_SCOPE={DEFAULT_SCOPE} (or remove it: that is the default)")
    if ctx is not None and cfg.tenant_id and cfg.tenant_id.lower() != ctx.tenant_id.lower():
        report.add("tenant", FAIL, f"the client's AZURE_TENANT_ID is {cfg.tenant_id}; the cluster's tenant is "
                                   f"{ctx.tenant_id}", f"set AZURE_TENANT_ID={ctx.tenant_id} (a client app of "
                                                       f"another tenant cannot be a member of the cluster's group)")
    elif ctx is not None:
        report.add("tenant", PASS, ctx.tenant_id)
    credential = cfg.build_credential()
    try:
        try:
            token = await _thread(credential.get_token, cfg.scope)
        except Exception as e:  # noqa: BLE001
            cause = aadsts(e)
            report.add("token", FAIL, f"Entra ID refused a token for {cfg.scope}: {cause}", token_fix(cause))
            token = None
    finally:
        if hasattr(credential, "close"):
            credential.close()
    c = claims(token.token) if token else {}
    if token:
        report.add("token", PASS, f"issued for {cfg.scope}")
        _claim_checks(ctx, cfg, c, report)
    if ctx is not None:
        _, group = await _cluster_and_group(ctx, report)
        if token:
            await _membership(ctx, c, group, report)
        await _nsg(ctx, report, client_cidrs)
    else:
        report.add("operator view", WARN, "no environment here (or no rights): membership, group, cluster and NSG "
                                          "checks skipped", "run doctor where the environment's provision.toml is")
    await _endpoint(cfg, report)
    if token:
        await asyncio.to_thread(_live, cfg, report)


def _claim_checks(ctx: Any | None, cfg: Any, c: dict[str, Any], report: Report) -> None:
    from provision.kafkarest.client import DEFAULT_SCOPE

    want_aud = DEFAULT_SCOPE[: -len("/.default")]
    aud = str(c.get("aud") or "")
    exp = c.get("exp")
    left = (exp - time.time()) if isinstance(exp, (int, float)) else None
    summary = (f"aud {aud}, tid {c.get('tid')}, appid {c.get('appid') or c.get('azp')}, oid {c.get('oid')}"
               + (f", expires in {left / 60:.0f} min" if left is not None else ""))
    problems, fixes = [], []
    if aud.rstrip("/").lower() != want_aud.lower():
        problems.append(f"audience {aud} is not the REST proxy's ({want_aud})")
        fixes.append(f"request scope {DEFAULT_SCOPE} (KAFKAREST_SCOPE)")
    if ctx is not None and c.get("tid") and str(c["tid"]).lower() != ctx.tenant_id.lower():
        problems.append(f"tenant {c['tid']} is not the cluster's ({ctx.tenant_id})")
        fixes.append(f"sign the client in to tenant {ctx.tenant_id}")
    appid = c.get("appid") or c.get("azp")
    if cfg.client_id and appid and appid.lower() != cfg.client_id.lower():
        problems.append(f"the token is for app {appid}, not AZURE_CLIENT_ID {cfg.client_id}")
    if left is not None and left < 300:
        problems.append("it expires in less than 5 minutes")
    if problems:
        report.add("token claims", FAIL, "; ".join(problems) + f" ({summary})", "; ".join(fixes))
    else:
        report.add("token claims", PASS, summary)


async def _cluster_and_group(ctx: Any, report: Report) -> tuple[Any, Any]:
    from provision import graphapi
    from provision.resources import hdinsight_kafka as hk
    from provision.resources import security_group
    from provision.resources.base import props

    try:
        cluster = await hk.read_cluster(ctx)
    except Exception as e:  # noqa: BLE001
        report.add("cluster", WARN, f"could not be read ({getattr(e, 'message', e)})".splitlines()[0])
        cluster = None
    env_group = await security_group.find(ctx)
    info = (props(cluster).get("kafkaRestProperties") or {}).get("clientGroupInfo") or {}
    group_id = info.get("groupId") or (env_group or {}).get("id")
    if cluster is None:
        report.add("cluster group", WARN, f"cluster {ctx.spec.values['cluster.name']} not found; the environment's "
                                          f"group is used", "run `provision up`")
    elif env_group is not None and group_id and group_id.lower() != env_group["id"].lower():
        report.add("cluster group", FAIL, f"the cluster's clientGroupInfo names group {info.get('groupName')} "
                                          f"({group_id}), not the environment's {env_group['displayName']} "
                                          f"({env_group['id']}): grants go to a group the proxy does not read",
                   "grant access in the cluster's group (group.id) or recreate the cluster")
    else:
        report.add("cluster group", PASS, f"clientGroupInfo → {info.get('groupName')} ({group_id})")
    group = await graphapi.get_or_none(ctx, f"/groups/{group_id}") if group_id else None
    if group is None:
        report.add("group type", FAIL, f"group {group_id} does not exist in tenant {ctx.tenant_id}",
                   "run `provision up` (or name an existing security group with group.id)")
    elif not group.get("securityEnabled") or group.get("mailEnabled"):
        report.add("group type", FAIL, f"{group.get('displayName')} is not a security group (securityEnabled="
                                       f"{group.get('securityEnabled')}, mailEnabled={group.get('mailEnabled')})",
                   "the REST proxy honours Entra security groups only: use one")
    else:
        report.add("group type", PASS, f"{group.get('displayName')} is a security group")
    return cluster, group


async def _membership(ctx: Any, c: dict[str, Any], group: Any, report: Report) -> None:
    from provision import graphapi

    oid, appid = c.get("oid"), c.get("appid") or c.get("azp")
    if group is None or not oid:
        return
    sp = await graphapi.get_or_none(ctx, f"/servicePrincipals/{oid}")
    name = (sp or {}).get("displayName") or appid
    direct = await graphapi.get_or_none(ctx, f"/groups/{group['id']}/members/{oid}")
    if direct is not None:
        report.add("membership", PASS, f"{name} (service principal {oid}) is a direct member of "
                                       f"{group.get('displayName')}")
        return
    try:
        res = await graphapi.call(ctx, "POST", f"/servicePrincipals/{oid}/checkMemberGroups",
                                  {"groupIds": [group["id"]]})
        transitive = group["id"] in (res.get("value") or [])
    except graphapi.GraphError:
        transitive = False
    if transitive:
        report.add("membership", PASS, f"{name} is a transitive member of {group.get('displayName')} (through a "
                                       f"nested group)")
    else:
        report.add("membership", FAIL, f"{name} (app {appid}, service principal {oid}) is not a member of the "
                                       f"cluster's group {group.get('displayName')}: the REST proxy answers 403",
                   f"provision access grant {name}" + ("" if name and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*",
                                                                                    name) else f" --app-id {appid}"))


async def _nsg(ctx: Any, report: Report, client_cidrs: list[str] | None) -> bool:
    from provision.resources import network
    from provision.resources.base import props

    try:
        actual = await network.NETWORK.read(ctx, {})
    except Exception as e:  # noqa: BLE001
        report.add("network rules", WARN, f"the NSG could not be read ({str(e).splitlines()[0]})")
        return False
    nsg, subnet = (actual or {}).get("nsg"), (actual or {}).get("subnet")
    if nsg is None:
        report.add("network rules", WARN, "no NSG found for the cluster subnet", "run `provision network open`")
        return False
    rules = network._all_rules(nsg)
    prefix = network._subnet_prefix(ctx, subnet)
    # The public REST proxy endpoint reaches the nodes through HDInsight's gateway (service tag HDInsight) on 443
    # and 9400; clients inside the network (peered, VPN, Private Link) come from their own addresses.
    sources = list(client_cidrs or ctx.spec.values["network.client_cidrs"] or [])
    checks = [("HDInsight", "443"), ("HDInsight", "9400")] + [(s, port) for s in sources for port in ("443", "9400")]
    bad = []
    for source, port in checks:
        rule = network.first_match(rules, source, port, prefix)
        if rule is None or str(props(rule).get("access")).lower() != "allow":
            how = f"rule '{rule.get('name')}' (Deny, priority {props(rule).get('priority')})" if rule else "no rule"
            bad.append(f"TCP {port} from {source}: {how}")
    if bad:
        report.add("network rules", FAIL, f"NSG {nsg.get('name')} does not admit " + "; ".join(bad),
                   "run `provision network open` (add the client's network to network.client_cidrs), or fix the "
                   "Deny rule")
        return False
    report.add("network rules", PASS, f"NSG {nsg.get('name')} admits 443 and 9400 from HDInsight"
                                      + (f" and from {', '.join(sources)}" if sources else ""))
    return True


async def _endpoint(cfg: Any, report: Report) -> None:
    import socket
    import ssl
    from urllib.parse import urlsplit

    url = urlsplit(cfg.endpoint)
    host, port = url.hostname or "", url.port or 443
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    except OSError as e:
        report.add("endpoint dns", FAIL, f"{host} does not resolve ({e})",
                   "check KAFKAREST_ENDPOINT; a Private Link or restricted cluster needs the private DNS records "
                   "Microsoft documents")
        return
    addresses = sorted({i[4][0] for i in infos})
    report.add("endpoint dns", PASS, f"{host} → {', '.join(addresses[:3])}")
    context = ssl.create_default_context(cafile=cfg.ca_bundle) if cfg.ca_bundle else ssl.create_default_context()

    def handshake() -> dict[str, Any]:
        with socket.create_connection((host, port), timeout=10) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                return {"version": tls.version(), "cert": tls.getpeercert()}

    try:
        info = await asyncio.to_thread(handshake)
    except ssl.SSLCertVerificationError as e:
        report.add("endpoint tls", FAIL, f"{host}:{port}: the certificate does not verify ({e.verify_message})",
                   "trust the right CA (PROVISION_CA_BUNDLE / REQUESTS_CA_BUNDLE for a private CA)")
        return
    except OSError as e:
        report.add("endpoint tls", FAIL, f"{host}:{port}: no TLS connection ({e})",
                   "check the network path to port 443 (NSG, firewall, proxy)")
        return
    ends = info["cert"].get("notAfter")
    left = ""
    if ends:
        when = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(ends), dt.timezone.utc)
        left = f", certificate valid until {when:%Y-%m-%d}"
    report.add("endpoint tls", PASS, f"{host}:{port} {info['version']}, certificate verified{left}")


def _live(cfg: Any, report: Report) -> None:
    from provision.kafkarest import AccessDenied, KafkaRestError
    from provision.kafkarest.errors import AuthenticationError

    try:
        with cfg.build_client(retry_total=1) as client:
            topics = client.list_topics()
    except AccessDenied as e:
        report.add("live call", FAIL, f"GET /v1/metadata/topics → 403: {e.server_message or 'forbidden'}",
                   "add the client to the cluster's group (`provision access grant NAME`); a new membership takes "
                   "up to the propagation bound to reach the proxy")
        return
    except AuthenticationError as e:
        report.add("live call", FAIL, f"GET /v1/metadata/topics → 401: {e.server_message or 'unauthorized'}",
                   "the token's tenant, audience or lifetime is wrong: see the token claims check")
        return
    except KafkaRestError as e:
        report.add("live call", FAIL, f"GET /v1/metadata/topics failed: {str(e)[:240]}", "")
        return
    report.add("live call", PASS, f"GET /v1/metadata/topics → 200 ({len(topics)} topics)")
