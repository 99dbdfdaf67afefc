"""MLServer runtime for MDL-007: campaign content rows in (subject, body or body_html, preheader and
the headers the compliance checks read), spec §3.4 answers out, cached by content hash for as long
as the model is loaded. The registered scorer is one joblib file; torch runs on the cores MLServer
gives the worker."""

from mlserver.errors import MLServerError

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.service import TEXT_LIMITS, answer_rows
from adaptive_delivery.platform.serving import ColumnarRuntime, model_version, policy_file, settle

SCORER_FILES = ("*scorer*.joblib",)


class ContentRuntime(ColumnarRuntime):
    refused = (RequestError,)
    text_limits = TEXT_LIMITS

    async def load(self) -> bool:
        params = self.settings.parameters
        path = policy_file(params.uri, SCORER_FILES)
        try:
            self.assessor = ContentAssessor(load_scorer(path))
        except ValueError as exc:
            raise MLServerError(f"{path.name}: {exc}") from exc
        self.model_version = model_version(params)
        settle()
        return True

    def answer(self, columns: dict):
        return answer_rows(self.assessor, columns)
