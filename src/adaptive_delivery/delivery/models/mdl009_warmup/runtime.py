"""MLServer runtime for MDL-009: one row per IP (its plan in force and yesterday's outcomes) in, the
day's spec §3.5 plan record out. Human approvals come from the ledger named in the model settings
(`extra.approvals`), recorded with `adaptive-delivery model approve MDL-009 …`; without one, a stage
jump or a resume waits and the plan says so (`needs_approval`). The registered champion is the
learned policy's exported actor or, while no learned policy beats it, the best railed rule (a JSON
file). Numpy only: no gymnasium, SB3 or twin."""

from mlserver.errors import MLServerError

from adaptive_delivery.delivery.decisions.approvals import ApprovalLedger
from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.knowledge.limits import LimitsReader
from adaptive_delivery.delivery.models.mdl009_warmup.service import load_planner, plan_day
from adaptive_delivery.platform.serving import ColumnarRuntime, model_version, policy_file, settle

CHAMPION_FILES = ("*actor*.npz", "*rule*.json")


class WarmupRuntime(ColumnarRuntime):
    refused = (RequestError,)

    async def load(self) -> bool:
        params = self.settings.parameters
        path = policy_file(params.uri, CHAMPION_FILES)
        try:
            self.planner = load_planner(path)
        except ValueError as exc:
            raise MLServerError(f"{path.name}: {exc}") from exc
        self.model_version = model_version(params)
        ledger = (params.extra or {}).get("approvals")
        self.ledger = ApprovalLedger(ledger) if ledger else None
        self.limits = LimitsReader()  # the learned daily ceiling: the knowledge base the deployment names
        settle()  # long-lived objects out of the collector's way
        return True

    def answer(self, columns: dict):
        return plan_day(self.planner, columns, self.model_version, self.ledger, self.limits.current())
