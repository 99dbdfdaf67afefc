"""Request schemas of the delivery services that more than one side shares: what a sending system
sends, and what the twin emits in the same shape so that policies train on it."""

from __future__ import annotations

# What an MTA knows about one provider right now (one 30-second window), in this order: MDL-003's
# request, and the observation of the twin's throttle environment.
MTA_WINDOW_FIELDS: tuple[str, ...] = (
    "current_send_rate", "queue_depth", "success_rate_1m", "success_rate_5m", "success_rate_15m",
    "deferrals_1m", "blocks_1m", "smtp_latency_ms", "smtp_4xx_rate", "smtp_5xx_rate", "hour_of_day",
    "day_of_week", "historical_good_rate", "warmup_stage", "reputation", "deferral_ceiling_rate",
)

# Spec §3.5's warm-up actions and what each does to today's daily limit (0: pause): MDL-009's
# action space, served and trained alike.
WARMUP_ACTIONS: tuple[str, ...] = ("hold", "increase_10", "increase_25", "increase_50", "decrease_10", "decrease_25",
                                   "pause")
WARMUP_FACTORS: tuple[float, ...] = (1.0, 1.10, 1.25, 1.50, 0.90, 0.75, 0.0)
