"""The environment spec: precedence, derived names, and one clear line per bad value (no server needed)."""

from __future__ import annotations

import tomllib

import pytest

from provision import spec


def test_precedence_flag_over_env_over_file(tmp_path):
    f = tmp_path / "env.toml"
    f.write_text('location = "westeurope"\n[cluster]\nname = "from-file"\nworker_count = 4\n')
    s = spec.resolve(f, env={"PROVISION_CLUSTER_NAME": "from-env"}, flags={"cluster_worker_count": 5})
    assert s.values["location"] == "westeurope" and s.sources["location"] == "file"
    assert s.values["cluster.name"] == "from-env" and s.sources["cluster.name"] == "env"
    assert s.values["cluster.worker_count"] == 5 and s.sources["cluster.worker_count"] == "flag"


def test_defaults_work_without_a_file():
    s = spec.resolve(None, env={"PROVISION_CLOUD": "local"})
    assert s.values["cloud"] == "local"
    assert s.values["resource_group"] == "rg-kafkarest"
    assert s.values["cluster.kafka_version"] == "3.2"
    assert spec.STORAGE_NAME("x", s.values["storage.account"]) is None
    # derived names are stable across runs (re-runs must find the same globally unique names)
    assert spec.resolve(None, env={}).values["cluster.name"] == s.values["cluster.name"]
    assert s.managed_tags["managed-by"] == "provision"


def test_example_toml_parses_and_resolves(tmp_path):
    text = spec.example_toml()
    tomllib.loads(text)
    f = tmp_path / "p.toml"
    f.write_text(text)
    assert spec.resolve(f, env={}).values["cluster.version"] == "5.1"


@pytest.mark.parametrize("env,field", [
    ({"PROVISION_CLUSTER_NAME": "-bad-"}, "cluster.name"),
    ({"PROVISION_CLUSTER_NAME": "apps"}, "cluster.name"),
    ({"PROVISION_CLUSTER_NAME": "a" * 60}, "cluster.name"),
    ({"PROVISION_STORAGE_ACCOUNT": "Has_Upper"}, "storage.account"),
    ({"PROVISION_STORAGE_ACCOUNT": "ab"}, "storage.account"),
    ({"PROVISION_GROUP_MAIL_NICKNAME": "has space"}, "group.mail_nickname"),
    ({"PROVISION_GROUP_MAIL_NICKNAME": "semi;colon"}, "group.mail_nickname"),
    ({"PROVISION_NETWORK_CLIENT_CIDRS": "10.0.0.0/8,300.1.1.0/24"}, "network.client_cidrs"),
    ({"PROVISION_NETWORK_CLIENT_CIDRS": "10.0.0.1/8"}, "network.client_cidrs"),
    ({"PROVISION_CLUSTER_VERSION": "3.6"}, "cluster.version"),
    ({"PROVISION_CLUSTER_VERSION": "5.1", "PROVISION_CLUSTER_KAFKA_VERSION": "2.4"}, "cluster.kafka_version"),
    ({"PROVISION_CLUSTER_WORKER_COUNT": "many"}, "cluster.worker_count"),
    ({"PROVISION_CLUSTER_DISKS_PER_WORKER": "9"}, "cluster.disks_per_worker"),
    ({"PROVISION_CLOUD": "mars"}, "cloud"),
    ({"PROVISION_CLOUD": "public"}, "subscription"),
    ({"PROVISION_NETWORK_SUBNET_PREFIX": "192.168.0.0/24"}, "network.subnet_prefix"),
    ({"PROVISION_NETWORK_SUBNET_ID": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/v"},
     "network.subnet_id"),
    ({"PROVISION_CLUSTER_SSH_USERNAME": "admin"}, "cluster.ssh_username"),
    ({"PROVISION_TAGS": "novalue"}, "tags"),
])
def test_bad_values_name_the_field(env, field, monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    with pytest.raises(spec.SpecError) as e:
        spec.resolve(None, env=env)
    assert e.value.field == field
    assert str(e.value).startswith(field + ":") and "\n" not in str(e.value)


def test_file_refuses_secrets_and_unknown_fields(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[cluster]\ngateway_password = "x"\n')
    with pytest.raises(spec.SpecError, match="secrets are not read"):
        spec.resolve(f, env={})
    f.write_text('[cluster]\nworkers = 3\n')
    with pytest.raises(spec.SpecError, match="cluster.workers: is not a known field"):
        spec.resolve(f, env={})
    f.write_text('[cluster\n')
    with pytest.raises(spec.SpecError, match="not valid TOML"):
        spec.resolve(f, env={})


@pytest.mark.parametrize("pw,ok", [("Aa1!aaaaaaa", True), ("short1A!", False), ("alllowercase1!", False),
                                   ("NoDigits!!aa", False), ("NoSpecial123a", False), ("Xadminx1!Yz", False)])
def test_password_rules(pw, ok):
    if ok:
        spec.check_password("gateway_password", pw, ("admin", "sshuser"))
    else:
        with pytest.raises(spec.SpecError):
            spec.check_password("gateway_password", pw, ("admin", "sshuser"))


def test_default_names_follow_the_subscription_of_the_credential():
    a = spec.resolve(None, env={"PROVISION_CLOUD": "public", "AZURE_SUBSCRIPTION_ID":
                                "11111111-1111-1111-1111-111111111111"})
    b = spec.resolve(None, env={"PROVISION_CLOUD": "public", "AZURE_SUBSCRIPTION_ID":
                                "22222222-2222-2222-2222-222222222222"})
    c = spec.resolve(None, env={"PROVISION_CLOUD": "public", "PROVISION_SUBSCRIPTION":
                                "11111111-1111-1111-1111-111111111111"})
    assert a.values["cluster.name"] != b.values["cluster.name"]
    assert a.values["storage.account"] != b.values["storage.account"]
    assert a.values["cluster.name"] == c.values["cluster.name"]  # same subscription, however it was given
