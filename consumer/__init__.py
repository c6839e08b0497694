"""leadsync: Kafka lead-change events to Noojee updateLeadFast calls."""
