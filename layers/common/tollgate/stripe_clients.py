"""The Stripe SDK's clients, one per container for each key and way of calling: checkout
(BillingFunction), webhook follow-ups (PaymentWebhookFunction) and a ticket's payment state
(TicketsFunction) each choose their own timeout and retries. ``api_base`` points a client at
devstack's stand-in."""

from __future__ import annotations

import functools

import stripe


@functools.lru_cache(maxsize=8)
def stripe_client(
    api_key: str, api_base: str | None, *, timeout_seconds: float, retries: int
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=retries,
        http_client=stripe.new_default_http_client(timeout=timeout_seconds),
    )
