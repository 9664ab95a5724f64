"""Typed errors of the Kafka REST proxy client.

Every message is one line a person can act on: it says what failed and what usually causes it, because the proxy's
own answers are terse (`{"error_code": 403, "message": "..."}` at best, an empty body at worst) and the two
access failures (bad token, not in the security group) look alike from the outside.
"""

from __future__ import annotations

from provision.errors import InvalidInput, ProvisionError


class ValidationError(InvalidInput, ValueError):
    """Bad input caught before any request: names the field, the rule it broke and how to fix it."""

    def __init__(self, field: str, rule: str, fix: str | None = None):
        self.field, self.rule, self.fix = field, rule, fix
        super().__init__(f"{field}: {rule}" + (f"; {fix}" if fix else ""))


class KafkaRestError(ProvisionError):
    """A call to the REST proxy failed. `status` is the HTTP status (None when no answer came back)."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str | None = None,
                 request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.server_message = server_message
        self.request_id = request_id


class ConnectionFailed(KafkaRestError):
    """No HTTP answer: DNS, TLS, refused or dropped connections (after retries)."""


class TokenError(KafkaRestError):
    """The credential could not get an access token for the REST proxy's scope (Entra ID said no)."""


class AuthenticationError(KafkaRestError):
    """401: the proxy did not accept the token (missing, expired, wrong audience or tenant)."""


class AccessDenied(KafkaRestError):
    """403: the token is fine, but its service principal is not in the cluster's security group."""


class NotFound(KafkaRestError):
    """404: the topic or partition does not exist (or is not visible yet)."""

    def __init__(self, message: str, *, topic: str | None = None, partition: int | None = None, **kw):
        super().__init__(message, **kw)
        self.topic = topic
        self.partition = partition


class TopicExists(KafkaRestError):
    """409 on create: a topic with this name exists already."""


class BadRequest(KafkaRestError):
    """400/413/422: the proxy refused the request as malformed or too large."""


class Unsupported(KafkaRestError):
    """405/501: the proxy does not offer this operation (HDInsight documents no topic deletion)."""


class Throttled(KafkaRestError):
    """429 still returned after the retries."""


class ServiceUnavailable(KafkaRestError):
    """5xx still returned after the retries."""


class ProtocolError(KafkaRestError):
    """The proxy answered 2xx with a body this client cannot read."""


class TopicNotVisible(KafkaRestError):
    """A created topic did not show up in the topic list within the timeout."""
