"""MLServer runtime for MDL-003: one row per provider window in, the railed rate recommendation out.
Runs in the serving environment with numpy only (the exported actor): no gymnasium, SB3 or twin."""

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.knowledge.limits import LimitsReader
from adaptive_delivery.delivery.models.mdl003_throttle.service import check_actor, recommend
from adaptive_delivery.platform.serving import (
    ColumnarRuntime,
    load_actor,
    model_version,
    serving_metrics,
    settle,
)


class ThrottleRuntime(ColumnarRuntime):
    """MDL-003 over V2: one row per provider window (`provider` as BYTES, the MTA's window state as
    numbers) in; recommended rate, action, confidence and the rails applied out."""

    refused = (RequestError,)

    async def load(self) -> bool:
        params = self.settings.parameters
        self.actor = load_actor(params.uri, check_actor)
        self.model_version = model_version(params)
        self.limits = LimitsReader()  # the rails' ceilings: the knowledge base the deployment names
        settle()  # long-lived objects out of the collector's way
        return True

    def answer(self, columns: dict):
        out = recommend(self.actor, columns, self.model_version, self.limits.current())
        m = serving_metrics()
        for rec in out[["provider", "recommended_rate_per_min", "multiplier"]].itertuples(index=False):
            m["throttle_recommended_rate"].labels(isp=rec.provider).set(rec.recommended_rate_per_min)
            m["rl_action"].labels(isp=rec.provider, model=self.name).set(rec.multiplier)
        return out
