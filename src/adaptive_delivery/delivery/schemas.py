"""Request schemas of the delivery services that more than one side shares: what a sending system
sends, and what the twin emits in the same shape so that policies train on it; and where a real
sender reads each input (sources of the platform's catalogue, `platform.observability`)."""

from __future__ import annotations

# What an MTA knows about one provider right now (one 30-second window), in this order: MDL-003's
# request, and the observation of the twin's throttle environment.
MTA_WINDOW_FIELDS: tuple[str, ...] = (
    "current_send_rate", "queue_depth", "success_rate_1m", "success_rate_5m", "success_rate_15m",
    "deferrals_1m", "blocks_1m", "smtp_latency_ms", "smtp_4xx_rate", "smtp_5xx_rate", "hour_of_day",
    "day_of_week", "historical_good_rate", "warmup_stage", "postmaster_reputation", "deferral_ceiling_rate",
)

# Spec §3.5's warm-up actions and what each does to today's daily limit (0: pause): MDL-009's
# action space, served and trained alike.
WARMUP_ACTIONS: tuple[str, ...] = ("hold", "increase_10", "increase_25", "increase_50", "decrease_10", "decrease_25",
                                   "pause")
WARMUP_FACTORS: tuple[float, ...] = (1.0, 1.10, 1.25, 1.50, 0.90, 0.75, 0.0)

MTA_WINDOW_SOURCES: dict[str, str] = {
    "current_send_rate": "mta", "queue_depth": "mta", "success_rate_1m": "mta", "success_rate_5m": "mta",
    "success_rate_15m": "mta", "deferrals_1m": "mta", "blocks_1m": "mta", "smtp_latency_ms": "mta",
    "smtp_4xx_rate": "mta", "smtp_5xx_rate": "mta", "hour_of_day": "calendar", "day_of_week": "calendar",
    "historical_good_rate": "mta", "warmup_stage": "plan", "postmaster_reputation": "feed",
    "deferral_ceiling_rate": "mta",
}

# MDL-009's request: the IP's plan in force, and yesterday's outcomes as the sender's logs show
# them (sent 0: no day yet).
WARMUP_KEYS: tuple[str, ...] = ("ip", "domain")
WARMUP_STATE_SOURCES: dict[str, str] = {
    "current_daily_limit": "plan", "target_daily_volume": "plan", "paused": "plan", "days_in_stage": "plan",
    "clean_streak": "plan", "rolling_bounce_rate": "mta", "rolling_complaint_rate": "fbl",
    "postmaster_reputation": "feed",
}
WARMUP_DAY_SOURCES: dict[str, str] = {
    "sent": "mta", "bounce_rate": "mta", "complaint_rate": "fbl", "deferral_rate": "mta", "block_rate": "mta",
    "baseline_block_rate": "mta", "rate_limit_refusal_rate": "mta",
}
