"""The words and patterns the rules planner reads questions with (English), in one place.

Kept apart from the planner's logic so extending its vocabulary ("bought" for an edge `purchased`,
another lead-in such as "pull up") is a one-line change with no code around it.
"""

from __future__ import annotations

import re
from typing import Final

# fmt: off
CODE: Final = re.compile(r"\b([A-Za-z]{2,6})[- _]?(\d{1,7})\b")
UUID: Final = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
QUOTED: Final = re.compile(r"[\"“']([^\"”']{2,80})[\"”']")
WORD: Final = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
NAME: Final = re.compile(r"\b([A-Z][a-zA-Z'’.-]+(?:\s+(?:van|de|von|der|la)?\s*[A-Z][a-zA-Z'’.-]+)*)")
NUMBER_FILTER: Final = re.compile(
    r"\b(over|above|more than|greater than|at least|under|below|less than|at most|fewer than)"
    r"\s+\$?€?(\d[\d,]*(?:\.\d+)?)"
)
LOOKUP_LEAD: Final = re.compile(
    r"^(?:please\s+)?(?:what\s+is|what's|whats|who\s+is|who's|find|show(?:\s+me)?|get|look\s*up|lookup|"
    r"tell\s+me\s+about|info(?:rmation)?\s+(?:on|about)|details\s+(?:of|for|on)|fetch|display|pull\s+up|"
    r"search\s+for|give\s+me)\b\s*(?:the\s+|a\s+|an\s+)?"
)
TOPIC: Final = re.compile(
    r"\b(?:about|regarding|concerning|related\s+to|relating\s+to|on\s+the\s+topic\s+of|on|covering|discussing|"
    r"mentioning|that\s+mention|that\s+discuss|explaining|describing)\s+(.+)$"
)
COUNT: Final = re.compile(r"\b(how many|number of|count of|count)\b")
NEWEST: Final = re.compile(
    r"\b(latest|newest|most recent|last \d+(?! ?(?:hour|day|week|month|year)s?\b)|recently updated)\b"
)
OLDEST: Final = re.compile(r"\b(oldest|earliest|first \d+)\b")

STOP: Final = frozenset({
    'a', 'about', 'all', 'an', 'and', 'any', 'anything', 'are', 'at', 'be', 'been', 'being', 'by', 'can',
    'could', 'did', 'do', 'does', 'done', 'everything', 'find', 'for', 'from', 'get', 'give', 'had', 'has',
    'have', 'how', 'i', 'in', 'is', 'it', 'its', 'latest', 'least', 'list', 'many', 'me', 'most', 'much', 'my',
    'newest', 'of', 'on', 'one', 'ones', 'or', 'our', 'please', 'recent', 'regarding', 'related', 'should',
    'show', 'some', 'something', 'tell', 'that', 'the', 'their', 'them', 'there', 'these', 'they', 'this',
    'those', 'to', 'was', 'we', 'were', 'what', 'when', 'where', 'which', 'who', 'whom', 'whose', 'why',
    'will', 'with', 'would', 'you', 'your',
})
FIRST_WORDS: Final = frozenset({
    'any', 'are', 'can', 'could', 'did', 'display', 'do', 'does', 'fetch', 'find', 'get', 'give', 'how', 'i',
    'is', 'list', 'look', 'lookup', 'open', 'please', 'pull', 'search', 'show', 'tell', 'we', 'what', 'when',
    'where', 'which', 'who', 'whom', 'whose', 'why',
})
# Verbs and nouns people use for the usual relations, by the start of the edge type's name.
RELATION_WORDS: Final = {
    'author': ('authored', 'author', 'authors', 'wrote', 'written', 'writes', 'write', 'writer', 'created by'),
    'review': ('reviewed', 'reviews', 'review', 'reviewer', 'reviewers', 'reviewing', 'approved'),
    'work': ('works on', 'worked on', 'working on', 'work on', 'works in', 'contributes to', 'contributed to',
             'members of', 'member of', 'on the team of'),
    'attend': ('attended', 'attends', 'attend', 'attending', 'attendees', 'participants', 'went to', 'were at',
               'was at', 'in the meeting'),
    'assign': ('assigned', 'assignee', 'assigned to', 'owns', 'owner', 'responsible for', 'handling', 'handles'),
    'carri': ('carried by', 'carried', 'carries', 'shipped by', 'shipped with', 'shipped via', 'delivered by',
              'carrier', 'carriers'),
    'bought': ('bought', 'buys', 'purchased', 'purchases', 'ordered'),
    'manag': ('manages', 'managed', 'manager of', 'leads', 'led by', 'reports to'),
    'mention': ('mentions', 'mentioned', 'references', 'referenced', 'cites'),
}
# Words that say which time field a window is on ("updated this week": updated_at).
TIME_WORDS: Final = {
    'updated': ('updated', 'changed', 'modified', 'edited', 'touched'),
    'created': ('created', 'opened', 'filed', 'raised', 'added', 'new'),
    'issued': ('issued', 'billed', 'invoiced'),
    'shipped': ('shipped', 'sent', 'dispatched'),
    'joined': ('joined', 'hired', 'started'),
    'delivered': ('delivered', 'arrived'),
    'due': ('due',),
    'closed': ('closed', 'resolved', 'finished'),
}
NAME_FIELDS: Final = frozenset({'display_name', 'full_name', 'fullname', 'name', 'title'})
PEOPLE_WORDS: Final = ('people', 'person', 'persons', 'users', 'members', 'employees', 'staff', 'contacts')
# Words around a lookup that are not part of the key ("SRCH-619 details", "Jose Garcia's profile").
FILLER: Final = frozenset({
    'details', 'detail', 'profile', 'info', 'information', 'record', 'records', 'status', 'page', 'entry', 'card',
    'summary', 'everything', 'anything', 'know', 'please', 'up', 'named', 'called',
})
# Letters before digits that are not a code ("sha 256", "top 5", "http 2", "python 3").
NOT_CODES: Final = frozenset({
    'sha', 'md', 'top', 'http', 'python', 'py', 'ipv', 'utf', 'iso', 'rfc', 'tls', 'ssl', 'last', 'past', 'first',
    'over', 'under', 'above', 'below', 'page', 'step', 'version', 'v', 'q', 'h', 'k', 'x', 'week', 'day',
})
NOT_NAMES: Final = frozenset({
    'i', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday', 'python', 'api', 'sql',
    'json', 'csv', 'http', 'https', 'tls', 'ssl', 'eur', 'usd', 'gbp', 'ok',
})
# Other words for a table, by one of its own words.
TABLE_ABBREVIATIONS: Final = {
    'documents': ('docs', 'doc', 'articles', 'article', 'pages', 'wiki', 'write-ups', 'writeups', 'notes'),
    'people': ('colleagues', 'team members', 'staff', 'employees'),
    'meetings': ('calls', 'sessions', 'events'),
    'tickets': ('issues', 'bugs', 'tasks'),
}
SMALLEST: Final = frozenset({'smallest', 'lowest', 'cheapest', 'least', 'minimum', 'min', 'fewest'})
SUPERLATIVE: Final = re.compile(
    r"\b(?:the\s+)?(?P<word>biggest|largest|highest|most\s+expensive|maximum|max|top|smallest|lowest|cheapest|"
    r"minimum|min)(?:\s+(?P<n>\d{1,3}))?\b"
)
# A preposition before a value says which of several fields holds it ("from Dubai": origin).
FIELD_HINTS: Final = {
    'from': ('origin', 'from', 'source', 'sender', 'departure'),
    'to': ('destination', 'to', 'target', 'recipient', 'arrival'),
    'for': ('customer', 'client', 'for', 'owner'),
    'by': ('owner', 'author', 'by', 'creator'),
    'in': ('city', 'location', 'country', 'region', 'team'),
}
# Words that only join a question's parts ("engineers based in New York").
LINKING: Final = frozenset({'based', 'located', 'living', 'sitting', 'working', 'tagged', 'labelled', 'labeled',
                            'marked', 'currently', 'still', 'right', 'now', 'our', 'we', 'us', 'have', 'got'})
# fmt: on
