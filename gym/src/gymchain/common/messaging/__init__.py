"""Messaging clients: RabbitMQ work queues (:mod:`.rabbit`), the Kafka-protocol event stream (:mod:`.stream`),
the Redis read-through cache (:mod:`.cache`) and Redis pub/sub notifications (:mod:`.notify`)."""
