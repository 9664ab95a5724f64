"""Checks of the CLI's own settings (not spec fields) and its logging set-up; each bad value is one line, exit 2.

- `output_mode(value)`: `--output` / `PROVISION_OUTPUT` → "text" or "json".
- `check_state_dir(path)`: the state directory (`PROVISION_STATE_DIR`, default `.provision`) can be a directory.
- `quiet_sdk_logging()`: SDK warnings (azure-identity's multi-line "get_token failed" report) stay out of stderr
  unless `-v` asked for logs; the error itself is reported once, as one line, by the command.

Kept free of Azure imports: called before any client is built.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from provision.errors import InvalidInput

OUTPUT_MODES = ("text", "json")


def output_mode(value: str | None, origin: str = "PROVISION_OUTPUT") -> str:
    """The output mode, "text" when unset; anything else but text/json is refused naming `origin`."""
    if value is None or value.strip() == "":
        return "text"
    mode = value.strip().lower()
    if mode not in OUTPUT_MODES:
        raise InvalidInput(f"{origin}: '{value}' is not one of {', '.join(OUTPUT_MODES)}; set it to text or json")
    return mode


def check_state_dir(path: str | os.PathLike, origin: str = "PROVISION_STATE_DIR") -> Path:
    """The state directory (or the first part of it that exists) must be a writable directory: secrets are saved
    there after Azure made them, so a path that cannot hold them is refused before any write."""
    p = Path(path).expanduser()
    for q in (p, *p.parents):
        if not q.exists():
            if q.is_symlink():
                raise InvalidInput(f"{origin}: {q} is a dangling symbolic link; point {origin} at a directory")
            continue
        if not q.is_dir():
            raise InvalidInput(f"{origin}: {q} is a file, not a directory; point {origin} at a directory (it is "
                               f"created when missing)")
        if not os.access(q, os.W_OK | os.X_OK):
            raise InvalidInput(f"{origin}: {q} is not writable; point {origin} at a directory you can write")
        break
    return p


_SDK_LOGGERS = ("azure", "msal", "httpx", "kiota_http")


def quiet_sdk_logging() -> None:
    """A NullHandler on the SDK loggers, so Python's last-resort handler does not print their warnings on stderr
    (azure-identity logs a multi-line "ClientSecretCredential.get_token failed" before raising; the command
    reports the raised error as one line). The handlers `-v`/`-vv` add still print them. Idempotent."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(getattr(h, "_provision_quiet", False) for h in logger.handlers):
            handler = logging.NullHandler()
            handler._provision_quiet = True  # type: ignore[attr-defined]
            logger.addHandler(handler)


def output_option(fn):  # noqa: ANN001,ANN201 — a click decorator
    """`--output text|json` for any command, defaulting to PROVISION_OUTPUT, checked in one line (exit 2) — the
    same rule as the environment commands, without click's multi-line usage error."""
    import click

    class OneLine(click.ClickException):
        exit_code = 2

    def resolve(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
        try:
            return output_mode(value, "--output") if value else output_mode(os.environ.get("PROVISION_OUTPUT"))
        except InvalidInput as e:
            raise OneLine(str(e)) from None

    return click.option("--output", "-o", default=None, metavar="[text|json]", callback=resolve,
                        help="text for people, json for scripts (env PROVISION_OUTPUT).")(fn)
