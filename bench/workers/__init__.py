"""The processes ``python -m bench`` starts: one service or consumer per implementation, configured by environment.

BENCH_NAME          the service name; its queue is ``<name>_queue``
BENCH_BROKER_URL    the benchmark's own virtual host
BENCH_REDIS_URL     the result backend for RPC replies, with every key under
BENCH_REDIS_PREFIX  the run's own prefix
BENCH_KEYS          comma-separated routing keys the service's queue is bound to
BENCH_RPC           when set, the service answers ``bench.rpc`` calls
BENCH_DIR           where handlers record what they saw (see :mod:`bench.workers.recording`)

``tchu_svc``, ``celery_svc`` and ``kombu_svc`` run in this repository's virtualenv; ``legacy_svc`` and
``legacy_driver`` run in the tchu-tchu 2.2.3 virtualenv, with only this folder on their path.
"""
