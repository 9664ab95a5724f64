"""`provision template export`: the ARM side of an environment as a deployment template (see provision/template.py).

Offline: it reads the spec only, never Azure, and never a password (those stay parameters).
"""

from __future__ import annotations

import shlex
from typing import Any

import click

from provision.cli.env import Runner, command, emit, spec_options
from provision.spec import SECRET_ENV

# Where the printed deploy command takes what the parameters file leaves empty: the variables the CLI path reads.
DEPLOY_ENV = {"gatewayPassword": SECRET_ENV["gateway_password"], "sshPassword": SECRET_ENV["ssh_password"],
              "kafkaRestGroupId": "KAFKAREST_GROUP_ID"}


@click.group()
def template() -> None:
    """ARM deployment templates generated from the same objects the SDK path sends."""


@template.command("export")
@spec_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="templates", show_default=True,
              help="Directory for azuredeploy.json and azuredeploy.parameters.json.")
@click.option("--key-vault-id", default=None, metavar="ID",
              help="Reference the passwords from this Key Vault (secrets <name>-gateway-password and "
                   "<name>-ssh-password) instead of leaving empty placeholders in the parameters file.")
@command
def export(**params: Any) -> None:
    """Write an ARM template + parameters file for the NSG, subnet, storage and Kafka cluster of the spec.

    Refuses (exit 2) a spec the template cannot express, such as an existing NSG (network.nsg_id).
    """
    from provision import template as templatemod

    r = Runner(params)
    tpl, parameters = templatemod.export(r.spec, r.extra.get("key_vault_id"))
    template_path, parameters_path = templatemod.write(r.extra["out_dir"], tpl, parameters)
    # What the deployer still has to supply: placeholders left empty in the parameters file.
    missing = [name for name, p in parameters["parameters"].items() if p.get("value") == ""]
    deploy = (f"az deployment group create --resource-group {shlex.quote(r.spec.values['resource_group'])} "
              f"--template-file {shlex.quote(str(template_path))} "
              f"--parameters @{shlex.quote(str(parameters_path))}"
              + "".join(f' {name}="${DEPLOY_ENV[name]}"' for name in missing))
    result = {"template": str(template_path), "parameters": str(parameters_path), "required": missing,
              "resourceGroup": r.spec.values["resource_group"], "deploy": deploy}

    def text() -> None:
        click.echo(f"wrote {template_path} and {parameters_path}")
        if missing:
            click.echo(f"still needed at deployment: {', '.join(missing)}")
        click.echo(f"deploy with: {deploy}")

    emit(r, result, text)
