"""The core's metrics port as Prometheus metrics, served on /metrics (app/http.py).

Lives in the composition root so the core never imports prometheus_client. Each instance has
a registry of its own: two services in one process (tests, a bench) never share counts."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.ports import FailureKind

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a fast first token to a long answer near BYOK_REQUEST_TIMEOUT's default of 60 s.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class PrometheusMetrics:
    """Labels are platform, outcome and failure kind only: fixed vocabularies, never a user
    id, a key or message text (see bot.ports.Metrics)."""

    def __init__(
        self,
        *,
        keys_stored: Callable[[], Awaitable[int]],
        ledger_depth: Callable[[], int],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._keys_stored = keys_stored
        self.turns = Counter(
            "byok_turns",
            "Conversation turns, by platform and outcome (ok, a provider failure kind, "
            "no_key, refused, stopped, ...).",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.provider_latency = Histogram(
            "byok_provider_latency_seconds",
            "Seconds from a turn's first provider request to the end of its answer, "
            "retries included.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "byok_provider_first_token_seconds",
            "Seconds from a turn's first provider request to the first text shown.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "byok_answers_in_flight", "Turns being answered right now.", registry=self.registry
        )
        self.provider_errors = Counter(
            "byok_provider_errors",
            "Failed provider calls, by kind; each retried try counts.",
            ["kind"],
            registry=self.registry,
        )
        for kind in FailureKind:
            # Present at 0 from the start, so a rate() over it works before the first error.
            self.provider_errors.labels(kind=kind.value)
        self.keys = Gauge(
            "byok_keys_stored",
            "Members with a key stored, read from the database at each scrape.",
            registry=self.registry,
        )
        self.ledger = Gauge(
            "byok_ledger_queue_depth",
            "Usage rows waiting in memory to be written to the database.",
            registry=self.registry,
        )
        self.ledger.set_function(lambda: float(ledger_depth()))

    def turn_started(self) -> None:
        self.in_flight.inc()

    def turn_finished(
        self, *, platform: str, outcome: str, latency: float | None, first_token: float | None
    ) -> None:
        self.in_flight.dec()
        self.turns.labels(platform=platform, outcome=outcome).inc()
        if latency is not None:
            self.provider_latency.observe(latency)
        if first_token is not None:
            self.first_token.observe(first_token)

    def provider_failed(self, kind: FailureKind) -> None:
        self.provider_errors.labels(kind=kind.value).inc()

    async def exposition(self) -> bytes:
        """The text format, with the keys-stored gauge read now. A database that cannot
        answer leaves the last count (its trouble shows on /readyz and in the log)."""
        try:
            self.keys.set(await self._keys_stored())
        except Exception as error:
            log.warning("metrics: keys stored not read (%s)", error)
        return generate_latest(self.registry)
