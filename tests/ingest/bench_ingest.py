"""Confirmed ingest publishing against the broker's unconfirmed rate, side by side in one run.

Run: ``.venv/bin/python -m tests.ingest.bench_ingest [amqp-url] [events]``. Prints JSON.

- ``unconfirmed``: pika ``basic_publish`` of the same encoded messages, no confirms, timed until
  the queue holds them all (the broker's ceiling for this client library);
- ``ingest_batch_N``: ``StreamIngest.handle_batch`` on synthetic CDC events in batches of N
  (interpretation, validation, encoding, confirm window, on_confirm tickets, cursor saves at most
  every 0.25 s), then ``settle()`` (every confirm in, cursors saved), as the ingest does when the
  stream goes idle — what a stream of ``/meta/connect`` answers of N events costs;
- rounds are interleaved and the best of each is kept (the machine is shared and noisy);
- ``cpu_us_per_msg``: the process's CPU time (every thread) per message in the best round: on a
  machine whose cores are busy with other work, rates follow this figure.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from typing import Any

import pika

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from adapters.broker.urls import pika_parameters
from adapters.salesforce.streaming import StreamEvent
from billsync.bootstrap import stream_ingest
from billsync.config import load_settings
from billsync.messages import encode
from workers.ingest.events import interpret
from workers.ingest.stream import StreamIngest

CHANNEL = "/data/AccountChangeEvent"
ROUNDS = 5
BATCHES = (1, 10, 100, 1000)


def _event(n: int) -> StreamEvent:
    payload: dict[str, Any] = {
        "ChangeEventHeader": {
            "entityName": "Account",
            "recordIds": [f"001{n:012d}AAA"],
            "changeType": "UPDATE",
            "changeOrigin": "com/salesforce/api/rest/59.0",
            "transactionKey": uuid.uuid4().hex,
            "sequenceNumber": 1,
            "commitTimestamp": int(time.time() * 1000),
            "commitNumber": n,
            "commitUser": "005000000000001AAA",
            "changedFields": ["Name", "Description", "LastModifiedDate"],
            "nulledFields": [],
            "diffFields": [],
        },
        "Name": f"Account {n}",
        "Description": "x" * 560,
        "LastModifiedDate": "2026-01-01T00:00:00.000Z",
    }
    return StreamEvent(CHANNEL, 1000 + n, payload, time.time())


def _depth(channel: Any, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)


Figure = tuple[float, float]  # (messages per second, CPU microseconds per message)


def _timed(count: int, run: Any) -> Figure:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return count / (time.perf_counter() - wall), (time.process_time() - cpu) / count * 1e6


def _unconfirmed(url: str, topology: Topology, bodies: list[bytes]) -> Figure:
    connection = pika.BlockingConnection(pika_parameters(url))
    channel = connection.channel()
    channel.queue_purge(topology.work_queue_name)
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def publish_all() -> None:
        for body in bodies:
            channel.basic_publish(topology.exchange_name, topology.routing_key, body, properties)
        while _depth(channel, topology.work_queue_name) < len(bodies):
            time.sleep(0.001)

    figure = _timed(len(bodies), publish_all)
    channel.queue_purge(topology.work_queue_name)
    connection.close()
    return figure


def _ingest(
    ingest: StreamIngest, url: str, topology: Topology, events: list[StreamEvent], batch: int
) -> Figure:
    publisher = open_publisher(url, topology, window=ingest.window)
    ingest.use_publisher(publisher)

    def stream() -> None:
        for start in range(0, len(events), batch):
            ingest.handle_batch(events[start : start + batch])
        ingest.settle()  # every confirm in and the cursor saved: what the run does when idle

    try:
        return _timed(len(events), stream)
    finally:
        ingest.use_publisher(None)
        publisher.close()
        connection = pika.BlockingConnection(pika_parameters(url))
        connection.channel().queue_purge(topology.work_queue_name)
        connection.close()


def main(url: str = "amqp://guest:guest@127.0.0.1:5672//", count: int = 10_000) -> None:
    """Measure and print the figures as JSON."""
    prefix = f"bench-ingest-{uuid.uuid4().hex[:6]}"
    topology = Topology(prefix=prefix)
    store = tempfile.mkdtemp(prefix="bench-ingest-")
    settings = load_settings(
        broker_url=url,
        database_url=f"sqlite:///{store}/store.db",
        queue_prefix=prefix,
        sf_instance_url="https://127.0.0.1:9",
        sf_session_id="unused-no-salesforce-call-is-made",
    )
    ingest = stream_ingest(settings, broker_url=url)
    events = [_event(n) for n in range(count)]
    bodies: list[bytes] = []
    for event in events:
        meaning = interpret(
            event.channel, event.replay_id, event.payload, call_client="billsync", received_ms=0
        )
        bodies.extend(encode(m) for m in meaning.messages)
    figures: dict[str, list[Figure]] = {"unconfirmed": []}
    figures.update({f"ingest_batch_{b}": [] for b in BATCHES})
    open_publisher(url, topology).close()  # declares the scratch topology
    try:
        for _ in range(ROUNDS):
            figures["unconfirmed"].append(_unconfirmed(url, topology, bodies))
            for batch in BATCHES:
                sample = events if batch > 1 else events[: count // 10]
                figures[f"ingest_batch_{batch}"].append(
                    _ingest(ingest, url, topology, sample, batch)
                )
    finally:
        connection = pika.BlockingConnection(pika_parameters(url))
        channel = connection.channel()
        for name in topology.queue_names:
            channel.queue_delete(name)
        channel.exchange_delete(topology.exchange_name)
        channel.exchange_delete(topology.dead_letter_exchange_name)
        connection.close()
    best = {name: max(values) for name, values in figures.items()}
    result: dict[str, Any] = {
        "messages": count,
        "message_bytes": round(sum(map(len, bodies)) / len(bodies)),
        "rounds": ROUNDS,
        "rates_msg_per_s": {k: round(v[0]) for k, v in best.items()},
        "share_of_unconfirmed": {
            k: round(v[0] / best["unconfirmed"][0], 3)
            for k, v in best.items()
            if k != "unconfirmed"
        },
        "cpu_us_per_msg": {k: round(v[1], 1) for k, v in best.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) >= 2:
        main(arguments[0], int(arguments[1]))
    elif arguments:
        main(arguments[0])
    else:
        main()
