"""`Database.plan` and `Database.ask`: a question becomes a plan (rules or an LLM), the plan runs.

The planner is `rules` unless an LLM endpoint is configured (REMLITE_LLM_BASE_URL or
OPENAI_BASE_URL), and either can be asked for by name. An LLM planner that fails (unreachable,
invalid output after its retries) is an error, not a silent switch to rules: a user who asked for
the LLM should know it did not answer. A plan can also be given instead of a question (a dict,
JSON text or a `Plan`), which is how an HTTP client runs a plan it edited.

The planners and the plan's pydantic models are imported at the first question, not when a
database opens: pydantic and the model classes cost ~12 MB and ~0.2 s of a process that never asks.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from remlite.ask.vocabulary import VocabularyCache
from remlite.errors import InvalidInput, shown
from remlite.settings import Settings

if TYPE_CHECKING:
    from remlite.ask.llm import LLMPlanner
    from remlite.ask.plan import Plan
    from remlite.ask.run import Answer
    from remlite.database import Database

PLANNERS = ("rules", "llm")
DEFAULT_MAX_STAGES = 3
MAX_QUESTION = 2000  # characters: a question, not a document


class Asker:
    """`plan` and `ask` of `remlite.Database`, a client of its public verbs."""

    def __init__(self, api: Database) -> None:
        self.api = api
        self.vocabulary = VocabularyCache(api)
        self._llm: LLMPlanner | None = None

    def close(self) -> None:
        self.vocabulary.close()

    def plan(
        self,
        question: str,
        *,
        planner: str | None = None,
        max_stages: int = DEFAULT_MAX_STAGES,
        now: datetime | None = None,
    ) -> Plan:
        """The plan a question becomes (printable, `to_dict()`/`to_json()`, runnable by `ask`)."""
        return self._plan(question, planner, max_stages, now)[0]

    def ask(
        self,
        question: str | Plan | dict[str, Any],
        *,
        planner: str | None = None,
        max_stages: int = DEFAULT_MAX_STAGES,
        now: datetime | None = None,
    ) -> Answer:
        """Plan the question (unless a plan is given) and run it: `.rows`, `.plan`, `.confidence`,
        `.explanation`, `.timings` (ms per stage, `plan`, `total`)."""
        from remlite.ask.plan import Plan
        from remlite.ask.run import Answer, run_plan

        started = time.perf_counter()
        usage = None
        if isinstance(question, (Plan, dict)):
            plan = question if isinstance(question, Plan) else Plan.from_dict(question)
        else:
            plan, usage = self._plan(question, planner, max_stages, now)
        planned = time.perf_counter()
        rows, ran, timings, used_fallback = run_plan(
            self.api, plan, self.vocabulary.get(), max_stages=_max_stages(max_stages), now=now
        )
        done = time.perf_counter()
        return Answer(
            rows=rows,
            plan=ran,
            confidence=ran.confidence,
            explanation=ran.explanation,
            timings={
                "plan": round((planned - started) * 1000, 3),
                **timings,
                "total": round((done - started) * 1000, 3),
            },
            used_fallback=used_fallback,
            usage=usage,
        )

    def _plan(
        self, question: Any, planner: str | None, max_stages: Any, now: datetime | None
    ) -> tuple[Plan, dict[str, int] | None]:
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput(f"question must be non-empty text, got {shown(question)}")
        if len(question) > MAX_QUESTION:
            raise InvalidInput(f"question is {len(question)} characters; at most {MAX_QUESTION}")
        stages = _max_stages(max_stages)
        settings = Settings.from_env()  # at the call, as get_provider() does: set the LLM before asking
        chosen = planner or ("llm" if settings.llm_configured else "rules")
        if chosen not in PLANNERS:
            raise InvalidInput(f"planner must be one of {', '.join(PLANNERS)}, not {shown(chosen)}")
        vocabulary = self.vocabulary.get()
        if chosen == "rules":
            from remlite.ask.rules import plan_with_rules

            return plan_with_rules(question, vocabulary, max_stages=stages, now=now), None
        return self._llm_planner(settings).plan(question, vocabulary, max_stages=stages)

    def _llm_planner(self, settings: Settings) -> LLMPlanner:
        from remlite.ask.llm import LLMPlanner  # httpx and the prompt only when an LLM is used

        if self._llm is None or self._llm.settings != settings:
            self._llm = LLMPlanner(settings)
        return self._llm


def _max_stages(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= 10:
        raise InvalidInput(f"max_stages must be an int from 1 to 10, got {shown(value)}")
    return value
