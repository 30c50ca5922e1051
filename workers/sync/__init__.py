"""The sync of entities: intake with completion on first sight, the batched engine and its pool,
the per-object syncs, retries and circuit breakers, the consumer policy and the worker process.
"""
