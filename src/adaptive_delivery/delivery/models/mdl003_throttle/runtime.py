"""MLServer runtime for MDL-003: one row per provider window in, the railed rate recommendation out.
Runs in the serving environment with numpy only (the exported actor): no gymnasium, SB3 or twin."""

import time

from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl003_throttle.service import check_actor, recommend
from adaptive_delivery.platform.serving import (
    columns_of,
    encode_frame,
    load_actor,
    model_version,
    observe,
    serving_metrics,
    settle,
)


class ThrottleRuntime(MLModel):
    """MDL-003 over V2: one row per provider window (`provider` as BYTES, the MTA's window state as
    numbers) in; recommended rate, action, confidence and the rails applied out."""

    async def load(self) -> bool:
        params = self.settings.parameters
        self.actor = load_actor(params.uri, check_actor)
        self.model_version = model_version(params)
        settle()  # long-lived objects out of the collector's way
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        started = time.perf_counter()
        columns = columns_of(payload)
        try:
            out = recommend(self.actor, columns, self.model_version)
        except RequestError as exc:
            raise MLServerError(str(exc)) from exc
        observe(self.name, started, len(out))
        m = serving_metrics()
        for rec in out[["provider", "recommended_rate_per_min", "multiplier"]].itertuples(index=False):
            m["throttle_recommended_rate"].labels(isp=rec.provider).set(rec.recommended_rate_per_min)
            m["rl_action"].labels(isp=rec.provider, model=self.name).set(rec.multiplier)
        return InferenceResponse(model_name=self.name, model_version=self.model_version, id=payload.id,
                                 outputs=encode_frame(out))
