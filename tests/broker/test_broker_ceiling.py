"""The broker ceiling benchmark measures every rate on a scratch quorum queue."""

from __future__ import annotations

from billsync.bench.broker_ceiling import measure_broker_ceiling


def test_the_broker_ceiling_measures_every_rate(broker_url: str) -> None:
    figures = measure_broker_ceiling(broker_url, messages=2000, rounds=1)
    for name in (
        "unconfirmed_publish",
        "unconfirmed_publish_pyamqp",
        "blocking_confirm_publish",
        "windowed_confirm_publish",
        "consume_ack",
    ):
        assert figures[name] > 0, name
    assert figures["windowed_confirm_publish"] > figures["blocking_confirm_publish"]
