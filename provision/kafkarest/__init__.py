"""A client for the HDInsight Kafka REST proxy (API v1), used by `provision kafka …` and `provision smoke`.

    from provision.kafkarest import KafkaRestClient
    client = KafkaRestClient(endpoint, credential)   # any azure-identity TokenCredential

See client.py for the calls, models.py for the records and metadata, errors.py for what can go wrong.
"""

from provision.kafkarest.client import DEFAULT_SCOPE, KafkaRestClient, normalize_endpoint, token_claims
from provision.kafkarest.errors import (
    AccessDenied,
    AuthenticationError,
    BadRequest,
    ConnectionFailed,
    KafkaRestError,
    NotFound,
    ProtocolError,
    ServiceUnavailable,
    Throttled,
    TokenError,
    TopicExists,
    TopicNotVisible,
    Unsupported,
    ValidationError,
)
from provision.kafkarest.models import (
    Broker,
    ConsumedRecord,
    ConsumeResult,
    PartitionMetadata,
    ProduceResult,
    ProducerRecord,
)

__all__ = [
    "DEFAULT_SCOPE", "KafkaRestClient", "normalize_endpoint", "token_claims",
    "AccessDenied", "AuthenticationError", "BadRequest", "ConnectionFailed", "KafkaRestError", "NotFound",
    "ProtocolError", "ServiceUnavailable", "Throttled", "TokenError", "TopicExists", "TopicNotVisible", "Unsupported",
    "ValidationError",
    "Broker", "ConsumedRecord", "ConsumeResult", "PartitionMetadata", "ProduceResult", "ProducerRecord",
]
