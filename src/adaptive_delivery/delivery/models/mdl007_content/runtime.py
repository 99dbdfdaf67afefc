"""MLServer runtime for MDL-007: campaign content rows in (subject, body or body_html, preheader and
the headers the compliance checks read), spec §3.4 answers out, cached by content hash for as long
as the model is loaded. The registered scorer is one joblib file; torch runs on the cores MLServer
gives the worker."""

from adaptive_delivery.delivery.decisions.service import RequestError
from adaptive_delivery.delivery.models.mdl007_content.model import load_scorer
from adaptive_delivery.delivery.models.mdl007_content.score import ContentAssessor
from adaptive_delivery.delivery.models.mdl007_content.service import TEXT_LIMITS, answer_rows
from adaptive_delivery.platform.serving import FileRuntime


class ContentRuntime(FileRuntime):
    refused = (RequestError,)
    text_limits = TEXT_LIMITS
    files = ("*scorer*.joblib",)
    rows = staticmethod(answer_rows)

    @staticmethod
    def read(path):
        return ContentAssessor(load_scorer(path))
