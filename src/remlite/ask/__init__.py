"""Questions in plain words: `Database.plan(question)` and `Database.ask(question)`.

`plan.py` (the plan as data), `rules.py` (the offline planner), `llm.py` (an OpenAI-compatible
planner), `vocabulary.py` (what planners know of a tenant), `times.py` (time expressions),
`run.py` (running a plan), `asker.py` (the component behind the two verbs).
"""

from typing import TYPE_CHECKING

from remlite.lazy import lazy_exports

if TYPE_CHECKING:
    from remlite.ask.plan import Plan
    from remlite.ask.run import Answer

__all__ = ["Answer", "Plan"]

__getattr__ = lazy_exports(__name__, {"Answer": "remlite.ask.run", "Plan": "remlite.ask.plan"})
