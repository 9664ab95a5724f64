"""provision: set up Azure HDInsight Kafka with the Kafka REST proxy, and manage who may call it."""

__version__ = "0.1.0"
