"""Data contracts: what crosses leadsync's edges (Kafka records in, Noojee HTTP out)."""
