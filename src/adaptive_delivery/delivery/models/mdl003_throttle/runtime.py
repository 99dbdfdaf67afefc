"""MLServer runtime for MDL-003: one row per provider window in, the railed rate recommendation out.
Runs in the serving environment with numpy only (the exported actor): no gymnasium, SB3 or twin."""

import logging
import time

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.knowledge.limits import REFRESH_SECONDS, KnownLimits
from adaptive_delivery.delivery.models.mdl003_throttle.service import check_actor, recommend
from adaptive_delivery.platform.serving import (
    ColumnarRuntime,
    load_actor,
    model_version,
    serving_metrics,
    settle,
)

logger = logging.getLogger(__name__)


class ThrottleRuntime(ColumnarRuntime):
    """MDL-003 over V2: one row per provider window (`provider` as BYTES, the MTA's window state as
    numbers) in; recommended rate, action, confidence and the rails applied out."""

    refused = (RequestError,)

    async def load(self) -> bool:
        params = self.settings.parameters
        self.actor = load_actor(params.uri, check_actor)
        self.model_version = model_version(params)
        # the rails' ceilings: the knowledge base the deployment names (knowledge.limits), read
        # again every hour; a load that fails keeps the limits in force and says so
        self.limits = KnownLimits.from_environment()
        self.limits_read = time.monotonic()
        settle()  # long-lived objects out of the collector's way
        return True

    def current_limits(self) -> KnownLimits:
        if time.monotonic() - self.limits_read > REFRESH_SECONDS:
            self.limits_read = time.monotonic()
            try:
                self.limits = KnownLimits.from_environment()
            except Exception as exc:  # noqa: BLE001 - a store that is down must not stop the decisions
                logger.warning("knowledge base limits not refreshed (%s); the last ones stay in force", exc)
        return self.limits

    def answer(self, columns: dict):
        out = recommend(self.actor, columns, self.model_version, self.current_limits())
        m = serving_metrics()
        for rec in out[["provider", "recommended_rate_per_min", "multiplier"]].itertuples(index=False):
            m["throttle_recommended_rate"].labels(isp=rec.provider).set(rec.recommended_rate_per_min)
            m["rl_action"].labels(isp=rec.provider, model=self.name).set(rec.multiplier)
        return out
