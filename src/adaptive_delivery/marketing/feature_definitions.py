"""The campaign features' names and types, read by the Spark build (`marketing.features`) and the
Feast view (`feature_repo/feature_views.py`): one place names them."""

from __future__ import annotations

from datetime import timedelta

RATES = ("cpc", "ctr", "conversion_rate", "cost_per_conversion", "impression_share")
CAMPAIGN_FEATURES: dict[str, str] = {
    "spend": "float", "impressions": "int", "clicks": "int", "conversions": "int", "eligible_impressions": "int",
    **{rate: "float" for rate in RATES},
    "spend_7d": "float",
    **{f"{rate}_7d": "float" for rate in RATES},
    "hour_of_day": "int", "day_of_week": "int", "day_of_month": "int", "is_weekend": "bool", "time_category": "str",
}
# A campaign's latest hour is served for a day: a campaign paused overnight still has its rates
CAMPAIGN_TTL = timedelta(days=1)
