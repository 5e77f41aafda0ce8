"""Fixed text for `nl_dataset.py`: names, places, ticket titles, project themes and the engineering documents.

Kept apart from the generator so the generator reads as the rules that turn this vocabulary into
tables, edges and questions. Everything here is plain data; nothing depends on the clock or on a
random draw, so changing a list changes the dataset for every run in the same way.
"""

from __future__ import annotations

from typing import Any

TEAMS = ["platform", "payments", "search", "mobile", "data", "infrastructure", "security", "growth"]
ROLES = {  # role -> weight: most people in a product company are engineers
    "engineer": 50,
    "manager": 10,
    "designer": 8,
    "analyst": 8,
    "product manager": 8,
    "data scientist": 6,
    "sre": 6,
    "qa engineer": 4,
}
CITIES = [
    "Berlin",
    "London",
    "Lisbon",
    "New York",
    "Toronto",
    "Bangalore",
    "Singapore",
    "São Paulo",
    "Amsterdam",
    "Madrid",
]

# People the questions name. Near-duplicates on purpose (Alice/Alicia Johnson, Jon/John Smith,
# Katherine/Catherine Lee, Steven/Stephen Clark, Sara/Sarah Khan) so an exact lookup must not
# return the neighbour and a fuzzy one must pick the closest; accents (Tomás Novák, José García)
# for queries typed without them. (handle, name, team, role)
FEATURED_PEOPLE = [
    ("alice.johnson", "Alice Johnson", "platform", "engineer"),
    ("alicia.johnson", "Alicia Johnson", "growth", "product manager"),
    ("jon.smith", "Jon Smith", "payments", "engineer"),
    ("john.smith", "John Smith", "infrastructure", "sre"),
    ("katherine.lee", "Katherine Lee", "security", "engineer"),
    ("catherine.lee", "Catherine Lee", "mobile", "designer"),
    ("steven.clark", "Steven Clark", "data", "analyst"),
    ("stephen.clark", "Stephen Clark", "payments", "engineer"),
    ("sara.khan", "Sara Khan", "search", "engineer"),
    ("sarah.khan", "Sarah Khan", "platform", "manager"),
    ("marco.rossi", "Marco Rossi", "payments", "manager"),
    ("priya.raman", "Priya Raman", "data", "data scientist"),
    ("wei.zhang", "Wei Zhang", "infrastructure", "engineer"),
    ("fatima.alsayed", "Fatima Al-Sayed", "security", "manager"),
    ("lars.eriksson", "Lars Eriksson", "mobile", "engineer"),
    ("ana.souza", "Ana Souza", "mobile", "designer"),
    ("tomas.novak", "Tomás Novák", "search", "engineer"),
    ("jose.garcia", "José García", "platform", "engineer"),
]
# Filler names: no first or last name of a featured person, so a featured name stays the one
# nearest answer to its typos (checked when the questions are built).
# fmt: off
FIRST_NAMES = [
    "Aaron", "Abigail", "Adrian", "Aisha", "Akira", "Amara", "Andrea", "Anton", "Arjun", "Beatriz", "Ben",
    "Bianca", "Carlos", "Chloe", "Chidi", "Clara", "Daniel", "Dmitri", "Elena", "Elif", "Emma", "Erik",
    "Farah", "Felix", "Gabriel", "Grace", "Hana", "Hugo", "Ines", "Isaac", "Ivan", "Jamal", "Jasmine",
    "Julia", "Kai", "Kenji", "Laila", "Leon", "Lina", "Lucas", "Maya", "Mei", "Mila", "Nadia", "Naveen",
    "Nina", "Noah", "Olga", "Omar", "Oscar", "Paula", "Pedro", "Rafael", "Rania", "Rohan", "Rosa", "Ruth",
    "Samuel", "Sofia", "Tariq", "Thea", "Theo", "Valentina", "Victor", "Yara", "Yusuf", "Zainab", "Ziggy",
]
LAST_NAMES = [
    "Adeyemi", "Andersen", "Baptiste", "Becker", "Bianchi", "Brown", "Castillo", "Chen", "Costa", "Dubois",
    "Dvorak", "Evans", "Fischer", "Fernandes", "Gupta", "Hansen", "Hassan", "Ito", "Ivanova", "Jansen", "Kim",
    "Kowalski", "Larsen", "Lopez", "Martin", "Meyer", "Moreau", "Murphy", "Nakamura", "Nguyen", "Okafor",
    "Olsen", "Patel", "Petrov", "Popescu", "Reyes", "Santos", "Schmidt", "Silva", "Singh", "Suzuki", "Tanaka",
    "Taylor", "Torres", "Varga", "Wagner", "Walker", "Weber", "Wilson", "Yilmaz",
]
# fmt: on

# Project themes: the team that runs them, the ticket-code prefix, tags, and descriptions
# ({name} is the project's codename). A description never names its theme outright, so "projects
# involving machine learning" is a semantic question, not a string match.
THEMES: dict[str, dict[str, Any]] = {
    "payments": {
        "team": "payments",
        "prefix": "PAY",
        "tags": ["payments", "billing"],
        "descriptions": [
            "{name} rebuilds the refund and payout flows on the new ledger, with idempotent calls to the "
            "payment provider and daily reconciliation against bank statements.",
            "{name} moves card checkout to the provider's hosted fields so card numbers never reach our "
            "servers, and adds wallets (Apple Pay, Google Pay).",
        ],
    },
    "platform": {
        "team": "platform",
        "prefix": "TAP",
        "tags": ["platform", "api"],
        "descriptions": [
            "{name} gives every internal service the same API gateway: authentication, quotas per key and "
            "request tracing without code in each service.",
            "{name} replaces the monolith's cron jobs with a shared job runner that retries, records "
            "history and pages the owner on repeated failures.",
        ],
    },
    "search": {
        "team": "search",
        "prefix": "SRCH",
        "tags": ["search", "relevance"],
        "descriptions": [
            "{name} improves how the catalogue finds products: typo tolerance, synonyms and ranking "
            "that favours what is in stock.",
            "{name} rebuilds the indexer so a price or stock change is findable within seconds instead "
            "of the nightly rebuild.",
        ],
    },
    "mobile": {
        "team": "mobile",
        "prefix": "MOB",
        "tags": ["mobile", "ios", "android"],
        "descriptions": [
            "{name} is the third version of the customer app on iOS and Android: offline carts, push "
            "notifications that respect quiet hours and a faster cold start.",
            "{name} shares one design system between the iOS and Android apps so screens ship on both "
            "platforms in the same release.",
        ],
    },
    "data": {
        "team": "data",
        "prefix": "DATA",
        "tags": ["data", "warehouse"],
        "descriptions": [
            "{name} migrates the nightly ETL jobs to an event pipeline that lands in the warehouse "
            "within minutes, with schema checks at the edge.",
            "{name} gives finance one source of truth for revenue: a modelled layer in the warehouse "
            "that the dashboards and the monthly close both read.",
        ],
    },
    "ml": {
        "team": "data",
        "prefix": "ML",
        "tags": ["ml", "models"],
        "descriptions": [
            "{name} trains and serves the next recommendation model, with a real-time feature store and "
            "offline evaluation before every release.",
            "{name} scores every order for fraud with a gradient boosted model retrained weekly on "
            "labelled chargebacks.",
            "{name} forecasts demand per warehouse and product from sales history, weather and "
            "promotions, so buyers order the right stock.",
        ],
    },
    "infrastructure": {
        "team": "infrastructure",
        "prefix": "OPS",
        "tags": ["infrastructure", "kubernetes"],
        "descriptions": [
            "{name} moves the remaining virtual machines to Kubernetes with autoscaling node pools and "
            "infrastructure described in Terraform.",
            "{name} upgrades the primary Postgres cluster, adds read replicas in a second region and "
            "rehearses failover every quarter.",
        ],
    },
    "security": {
        "team": "security",
        "prefix": "SEC",
        "tags": ["security", "compliance"],
        "descriptions": [
            "{name} prepares the SOC 2 audit: access reviews, audit logs for admin actions and evidence "
            "collected automatically.",
            "{name} rolls out single sign-on and hardware keys for every employee and removes shared "
            "passwords from the vault.",
        ],
    },
    "growth": {
        "team": "growth",
        "prefix": "WEB",
        "tags": ["growth", "web"],
        "descriptions": [
            "{name} redesigns the signup and onboarding flow to raise trial conversion, measured with "
            "experiments on every step.",
            "{name} localises the pricing pages and checkout for the UK, Germany and Brazil.",
        ],
    },
    "logistics": {
        "team": "platform",
        "prefix": "SHIP",
        "tags": ["logistics", "shipping"],
        "descriptions": [
            "{name} connects our warehouses to carrier APIs for labels, tracking webhooks and customs "
            "documents, replacing the spreadsheet exports.",
            "{name} predicts delivery dates per carrier and route and warns customers before a parcel is late.",
        ],
    },
}
# fmt: off
CODENAMES = [
    "Atlas", "Borealis", "Cobalt", "Dune", "Ember", "Falcon", "Glacier", "Harbor", "Ion", "Juniper", "Kestrel",
    "Lumen", "Meridian", "Nimbus", "Orion", "Pulsar", "Quartz", "Raven", "Sierra", "Tundra", "Umbra", "Vega",
    "Willow", "Xenon", "Yukon", "Zephyr", "Apollo", "Beacon", "Cascade", "Delta", "Echo", "Fjord", "Granite",
    "Helix", "Indigo", "Jasper", "Keystone", "Lotus", "Mosaic", "Nova", "Onyx", "Prism", "Quasar", "Redwood",
    "Summit", "Titan", "Unity", "Vertex", "Wavelength", "Yarrow", "Zenith", "Aurora", "Basalt", "Comet",
    "Drift", "Evergreen", "Flint", "Gemini", "Horizon", "Iris",
]
# fmt: on

# Ticket titles by topic: each project theme, plus "auth" and "performance", which happen in any
# project. The topic is the label topical questions about tickets are judged by.
TICKET_TITLES: dict[str, list[str]] = {
    "auth": [
        "Users logged out after password reset",
        "SSO login fails for Okta tenants",
        "Two-factor codes rejected on first attempt",
        "Session expires after five minutes on mobile web",
        "Login page returns 500 after SSO redirect",
        "Password reset link expires immediately",
        "Cannot sign in with Google account",
        "Account locked after a single failed login",
    ],
    "performance": [
        "Search results page takes 8 seconds to load",
        "Dashboard API p95 latency above 2 s",
        "Slow query on orders table during peak hours",
        "Memory leak in the export worker",
        "Checkout page slow on 3G connections",
        "CPU spikes on the ingest service every hour",
        "Product images load slowly on category pages",
        "Report generation times out for large accounts",
    ],
    "payments": [
        "Refund webhook processed twice, customer refunded double",
        "Card payments declined with a generic error",
        "Payout reconciliation off by one day",
        "Duplicate charge when checkout is retried",
        "Rounding error on EUR refunds",
        "Payment provider webhook signature check fails",
        "Payment confirmation page times out",
        "Invoice total ignores discount code",
    ],
    "platform": [
        "API gateway drops the tracing header",
        "Rate limiter counts requests twice behind the proxy",
        "Job runner does not retry failed jobs",
        "Internal API returns HTML error pages instead of JSON",
        "Service template missing health check endpoint",
        "Quota headers missing on 429 responses",
    ],
    "search": [
        "Search ignores accents in product names",
        "Typo tolerance returns irrelevant results",
        "Synonyms for sofa and couch not applied",
        "Filters reset when paginating search results",
        "Autocomplete suggests discontinued products",
        "Ranking favours old listings over new ones",
    ],
    "mobile": [
        "App crashes on launch on Android 14",
        "iOS push notifications not delivered",
        "Dark mode colours wrong on the settings screen",
        "Offline cart loses items after app restart",
        "Camera permission prompt loops on iOS",
        "Android app drains battery in the background",
    ],
    "data": [
        "Nightly ETL job fails on schema change",
        "Duplicate rows in the events warehouse table",
        "Airflow DAG stuck in queued state",
        "Revenue dashboard differs from the finance export",
        "Late-arriving events dropped by the pipeline",
        "Parquet export missing the country column",
    ],
    "ml": [
        "Recommendation model serves stale features",
        "Fraud model false positives spiked after retrain",
        "Feature store backfill takes three days",
        "Model drift alert never fires",
        "Embedding service runs out of memory on long inputs",
        "Churn scores are zero for new accounts",
    ],
    "infrastructure": [
        "Node pool autoscaling too slow during traffic spikes",
        "Terraform plan shows drift on the load balancer",
        "Disk full on the logging cluster",
        "Deploy pipeline flaky on integration tests",
        "Staging database out of connections",
        "Upgrade Postgres to version 16",
        "DNS failover did not trigger",
    ],
    "security": [
        "Rotate leaked API key of a partner integration",
        "XSS in the comment preview",
        "Critical CVE in the image processing dependency",
        "Audit log missing admin role changes",
        "Storage bucket publicly listable",
        "Enforce MFA for admin accounts",
        "Customer emails visible in application logs",
    ],
    "growth": [
        "Signup conversion dropped after the new onboarding flow",
        "Experiment assignment not sticky across devices",
        "Referral codes not applied at checkout",
        "Newsletter unsubscribe link broken",
        "Pricing page shows the wrong currency for UK visitors",
        "Trial expiry email sent twice",
    ],
    "logistics": [
        "FedEx tracking numbers not synced",
        "Shipment ETA wrong for sea freight",
        "Customs documents missing on EU exports",
        "Label printing fails for DHL Express",
        "Warehouse scan events arrive out of order",
        "Carrier webhook retries flood the queue",
    ],
}
TITLE_SUFFIXES = [
    "",
    "",
    "",
    "",
    " (EU region)",
    " for enterprise customers",
    " after last deploy",
    " in staging",
    " again",
    " - customer reported",
]

# fmt: off
CUSTOMERS = [
    "Northwind Traders", "Globex", "Initech", "Umbrella Health", "Acme Corp", "Stark Industries",
    "Wayne Enterprises", "Hooli", "Soylent", "Vandelay Industries", "Wonka Foods", "Tyrell Systems",
    "Cyberdyne", "Massive Dynamic", "Pied Piper", "Aperture Labs", "Monarch Solutions", "Blue Sun",
    "Gringotts Bank", "Oceanic Airlines", "Dunder Mifflin", "Bluth Company", "Prestige Worldwide",
    "Sterling Cooper", "Los Pollos Hermanos", "Krusty Krab", "Cheers Hospitality", "Sirius Cybernetics",
    "Ollivanders", "Nakatomi Trading",
]
# fmt: on
CURRENCIES = {"EUR": 50, "USD": 35, "GBP": 15}

# (name, country, mode)
CARRIERS = [
    ("DHL", "Germany", "air"),
    ("FedEx", "United States", "air"),
    ("UPS", "United States", "road"),
    ("Maersk", "Denmark", "sea"),
    ("DB Schenker", "Germany", "road"),
    ("Kuehne+Nagel", "Switzerland", "sea"),
    ("CMA CGM", "France", "sea"),
    ("Hapag-Lloyd", "Germany", "sea"),
    ("MSC", "Switzerland", "sea"),
    ("DSV", "Denmark", "road"),
    ("Expeditors", "United States", "air"),
    ("TNT", "Netherlands", "road"),
    ("USPS", "United States", "road"),
    ("Royal Mail", "United Kingdom", "road"),
    ("La Poste", "France", "road"),
    ("GLS", "Netherlands", "road"),
    ("DPD", "France", "road"),
    ("Nippon Express", "Japan", "air"),
    ("Cathay Cargo", "Hong Kong", "air"),
    ("Evergreen Marine", "Taiwan", "sea"),
]
HUBS = {  # where goods leave from and arrive, by mode
    "sea": ["Shanghai", "Singapore", "Rotterdam", "Hamburg", "Busan", "Los Angeles", "Antwerp", "Felixstowe"],
    "air": ["Hong Kong", "Frankfurt", "Memphis", "Dubai", "Chicago", "Shanghai", "Singapore", "Leipzig"],
    "road": ["Berlin", "Paris", "Madrid", "Milan", "Warsaw", "Rotterdam", "Lyon", "Munich", "Chicago", "Dallas"],
}
TRANSIT_DAYS = {"sea": (18, 35), "air": (1, 4), "road": (1, 6)}

# Meetings: kind -> (how a meeting of this kind is named, its tags, typical length in minutes)
MEETING_KINDS: dict[str, dict[str, Any]] = {
    "standup": {"weight": 30, "minutes": (15, 15), "tags": ["standup"]},
    "planning": {"weight": 10, "minutes": (60, 90), "tags": ["planning", "sprint"]},
    "retro": {"weight": 6, "minutes": (45, 60), "tags": ["retro", "sprint"]},
    "1:1": {"weight": 16, "minutes": (30, 30), "tags": ["1:1"]},
    "design review": {"weight": 8, "minutes": (45, 60), "tags": ["design", "review"]},
    "incident review": {"weight": 5, "minutes": (45, 60), "tags": ["incident", "review"]},
    "customer call": {"weight": 12, "minutes": (30, 60), "tags": ["customer"]},
    "interview": {"weight": 8, "minutes": (45, 60), "tags": ["hiring"]},
    "all hands": {"weight": 2, "minutes": (60, 60), "tags": ["company"]},
}
DESIGN_TOPICS = [
    "rate limiting",
    "search ranking",
    "the job runner",
    "offline carts",
    "the ledger schema",
    "feature flags",
    "the event pipeline",
    "carrier webhooks",
]
INCIDENTS = [
    "checkout outage",
    "delayed invoice emails",
    "search index lag",
    "login errors after deploy",
    "Android crash spike",
]

# Python standard-library modules whose docstrings become documents: module -> (title, members whose
# docstrings are added when the module's own is short). Titles follow docs.python.org.
PYTHON_MODULES: dict[str, tuple[str, list[str]]] = {
    "json": ("json — JSON encoder and decoder", []),
    "csv": ("csv — CSV file reading and writing", []),
    "sqlite3": ("sqlite3 — DB-API 2.0 interface for SQLite databases", ["connect"]),
    "http.client": ("http.client — HTTP protocol client", []),
    "http.server": ("http.server — HTTP servers", []),
    "urllib.request": ("urllib.request — Extensible library for opening URLs", ["urlopen"]),
    "urllib.parse": ("urllib.parse — Parse URLs into components", []),
    "asyncio": ("asyncio — Asynchronous I/O", ["run", "gather", "create_task", "Queue"]),
    "logging": ("logging — Logging facility for Python", ["Logger", "Handler", "basicConfig"]),
    "hashlib": ("hashlib — Secure hashes and message digests", []),
    "hmac": ("hmac — Keyed-Hashing for Message Authentication", ["new", "compare_digest"]),
    "secrets": ("secrets — Generate secure random numbers for managing secrets", ["token_hex", "token_urlsafe"]),
    "zipfile": ("zipfile — Work with ZIP archives", ["ZipFile"]),
    "tarfile": ("tarfile — Read and write tar archive files", ["TarFile", "open"]),
    "gzip": ("gzip — Support for gzip files", ["open", "compress", "GzipFile"]),
    "bz2": ("bz2 — Support for bzip2 compression", ["open", "compress"]),
    "lzma": ("lzma — Compression using the LZMA algorithm", ["open", "compress"]),
    "zlib": ("zlib — Compression compatible with gzip", []),
    "email": ("email — An email and MIME handling package", ["message_from_string"]),
    "smtplib": ("smtplib — SMTP protocol client", ["SMTP"]),
    "imaplib": ("imaplib — IMAP4 protocol client", ["IMAP4"]),
    "unittest": ("unittest — Unit testing framework", []),
    "doctest": ("doctest — Test interactive Python examples", []),
    "argparse": ("argparse — Parser for command-line options, arguments and sub-commands", []),
    "datetime": ("datetime — Basic date and time types", ["datetime", "timedelta", "date"]),
    "time": ("time — Time access and conversions", []),
    "calendar": ("calendar — General calendar-related functions", ["monthrange", "Calendar"]),
    "threading": ("threading — Thread-based parallelism", ["Thread", "Lock", "Event"]),
    "queue": ("queue — A synchronized queue class", ["Queue"]),
    "concurrent.futures": ("concurrent.futures — Launching parallel tasks", ["ThreadPoolExecutor", "Executor"]),
    "subprocess": ("subprocess — Subprocess management", []),
    "socket": ("socket — Low-level networking interface", []),
    "ssl": ("ssl — TLS/SSL wrapper for socket objects", ["create_default_context"]),
    "select": ("select — Waiting for I/O completion", ["select"]),
    "re": ("re — Regular expression operations", []),
    "difflib": ("difflib — Helpers for computing deltas", []),
    "textwrap": ("textwrap — Text wrapping and filling", ["wrap", "dedent", "TextWrapper"]),
    "string": ("string — Common string operations", []),
    "struct": ("struct — Interpret bytes as packed binary data", []),
    "collections": ("collections — Container datatypes", []),
    "itertools": ("itertools — Functions creating iterators for efficient looping", []),
    "functools": (
        "functools — Higher-order functions and operations on callable objects",
        ["lru_cache", "partial", "reduce"],
    ),
    "heapq": ("heapq — Heap queue algorithm", []),
    "statistics": ("statistics — Mathematical statistics functions", []),
    "random": ("random — Generate pseudo-random numbers", []),
    "decimal": ("decimal — Decimal fixed-point and floating-point arithmetic", ["Decimal"]),
    "uuid": ("uuid — UUID objects according to RFC 4122", []),
    "pickle": ("pickle — Python object serialization", ["dumps", "loads"]),
    "shelve": ("shelve — Python object persistence", []),
    "configparser": ("configparser — Configuration file parser", []),
    "tempfile": ("tempfile — Generate temporary files and directories", []),
    "shutil": ("shutil — High-level file operations", ["copyfile", "rmtree", "make_archive"]),
    "fnmatch": ("fnmatch — Unix filename pattern matching", []),
    "copy": ("copy — Shallow and deep copy operations", []),
    "timeit": ("timeit — Measure execution time of small code snippets", []),
    "typing": ("typing — Support for type hints", []),
    "inspect": ("inspect — Inspect live objects", []),
    "io": ("io — Core tools for working with streams", []),
    "os": ("os — Miscellaneous operating system interfaces", []),
    "mimetypes": ("mimetypes — Map filenames to MIME types", []),
    "xml.etree.ElementTree": ("xml.etree.ElementTree — The ElementTree XML API", []),
    "ipaddress": ("ipaddress — IPv4/IPv6 manipulation library", ["ip_address", "ip_network"]),
    "base64": ("base64 — Base16, Base32, Base64, Base85 Data Encodings", ["b64encode", "b64decode"]),
    "gc": ("gc — Garbage Collector interface", []),
    "ftplib": ("ftplib — FTP protocol client", []),
    "sched": ("sched — Event scheduler", []),
    "getpass": ("getpass — Portable password input", ["getpass"]),
    "pprint": ("pprint — Data pretty printer", []),
    "traceback": ("traceback — Print or retrieve a stack traceback", ["print_exc", "format_exc"]),
}

# Engineering documents written for this dataset: the company's own design notes, reviews,
# post-mortems and guides. `days_ago` dates them relative to the build's `now`; authors and
# reviewers are handles of FEATURED_PEOPLE.
ENGINEERING_DOCS: list[dict[str, Any]] = [
    {
        "slug": "design/api-rate-limiting",
        "title": "Design note: rate limiting the public API",
        "category": "design",
        "tags": ["api", "rate-limiting", "platform"],
        "authors": ["alice.johnson", "wei.zhang"],
        "reviewers": [],
        "days_ago": 41,
        "content": (
            "We limit requests per API key with a token bucket kept in Redis. Each key gets a bucket "
            "sized by its plan (60 requests per minute on the free plan, 600 on business) that refills "
            "continuously, so short bursts are allowed while the average rate stays bounded. The gateway "
            "takes one token per request in a single Lua script, which keeps the check atomic across "
            "gateway replicas.\n\n"
            "A request that finds the bucket empty gets HTTP 429 Too Many Requests with a Retry-After "
            "header and the X-RateLimit-Remaining and X-RateLimit-Reset headers, so well-behaved clients "
            "can back off instead of hammering the API. Internal services are exempt but are throttled "
            "by a separate concurrency limit.\n\n"
            "We rejected a fixed window counter because it lets clients send twice the limit around the "
            "window boundary, and a sliding log because it stores one entry per request. If Redis is "
            "unreachable the gateway fails open for five minutes and alerts the platform on-call."
        ),
    },
    {
        "slug": "reviews/payment-service-refunds",
        "title": "Code review: payment service refund flow",
        "category": "code-review",
        "tags": ["payments", "code-review", "refunds"],
        "authors": ["jon.smith"],
        "reviewers": ["stephen.clark", "marco.rossi", "katherine.lee"],
        "days_ago": 12,
        "content": (
            "Review of the pull request that moves refunds in the payment service to the new ledger. "
            "The refund handler now takes an idempotency key from the caller and stores it with the "
            "ledger entry, so a retried request returns the first refund instead of paying twice. This "
            "fixes the double refunds we saw when the provider's webhook arrived before our own "
            "response.\n\n"
            "Comments from the review: amounts must stay in integer minor units (cents) end to end; "
            "one code path still converted to float for the audit log. The retry loop around the "
            "payment provider call should use exponential backoff with jitter and give up after the "
            "provider's own timeout. The request logger printed the full card object in debug mode; "
            "it must mask the card number and drop the CVC entirely.\n\n"
            "Approved after the float conversion and the logging were fixed. Follow-up ticket: move "
            "currency rounding into one helper shared with invoicing."
        ),
    },
    {
        "slug": "reviews/search-indexer-batching",
        "title": "Code review: search indexer batching",
        "category": "code-review",
        "tags": ["search", "code-review", "indexing"],
        "authors": ["sara.khan"],
        "reviewers": ["alice.johnson", "tomas.novak"],
        "days_ago": 27,
        "content": (
            "The indexer now groups product updates into batches of up to 500 documents or 2 seconds, "
            "whichever comes first, and writes each batch in one bulk request. Throughput went from 80 "
            "to 1,900 updates per second in the load test.\n\n"
            "Review notes: a failed bulk request must be split and retried per document, otherwise one "
            "malformed product blocks its whole batch. The flush on shutdown needs a deadline so a "
            "deploy cannot hang. Add a metric for the age of the oldest unindexed update; that is what "
            "customers notice, not throughput."
        ),
    },
    {
        "slug": "reviews/mobile-session-refresh",
        "title": "Code review: session token refresh in the mobile app",
        "category": "code-review",
        "tags": ["mobile", "auth", "code-review"],
        "authors": ["lars.eriksson"],
        "reviewers": ["katherine.lee", "john.smith"],
        "days_ago": 19,
        "content": (
            "The app refreshed its access token on every screen load, which raced when two requests "
            "refreshed at once and logged users out. The change keeps one refresh in flight and makes "
            "other requests wait for it.\n\n"
            "Review notes: store the refresh token in the Keychain on iOS and the Keystore on Android, "
            "never in shared preferences. Handle a refresh that fails with 401 by signing out cleanly "
            "instead of retrying forever. Add a test for the clock-skew case where the token looks "
            "valid on the device but the server has already expired it."
        ),
    },
    {
        "slug": "incidents/checkout-outage",
        "title": "Post-mortem: checkout outage from database connection pool exhaustion",
        "category": "incident",
        "tags": ["incident", "checkout", "postgres"],
        "authors": ["john.smith", "marco.rossi"],
        "reviewers": [],
        "days_ago": 34,
        "content": (
            "For 47 minutes customers could not complete checkout: the payment step returned errors "
            "and the order service timed out. Roughly 3,100 orders were lost or abandoned.\n\n"
            "Cause: a deploy of the order service raised its worker count from 8 to 32 without changing "
            "the database connection pool, so the service opened four times as many connections and "
            "exhausted Postgres's max_connections. New connections from the payment service were "
            "refused. The alert on connection count existed but paged a team that had been renamed.\n\n"
            "What went well: the rollback took four minutes once the cause was known. What went badly: "
            "it took 38 minutes to find it, because dashboards showed healthy CPU and memory.\n\n"
            "Actions: put PgBouncer in front of the primary, size pools from a shared budget checked in "
            "CI, route the connection alert to the current on-call rotation, and add a checkout "
            "synthetic test that pages within two minutes."
        ),
    },
    {
        "slug": "incidents/invoice-email-delay",
        "title": "Post-mortem: invoice emails delayed by nine hours",
        "category": "incident",
        "tags": ["incident", "email", "billing"],
        "authors": ["priya.raman", "jon.smith"],
        "reviewers": [],
        "days_ago": 63,
        "content": (
            "Invoices issued on the first of the month reached customers up to nine hours late. The "
            "mail queue held 40,000 messages because our email provider throttled us after a burst "
            "that exceeded our sending quota.\n\n"
            "All invoices were generated at midnight in one job and handed to the provider at once. "
            "We now spread sending over two hours, ask the provider for a higher quota before month "
            "end, and alert when the queue is older than 15 minutes."
        ),
    },
    {
        "slug": "guides/onboarding",
        "title": "Onboarding guide for new engineers",
        "category": "guide",
        "tags": ["onboarding", "guide"],
        "authors": ["sarah.khan", "alice.johnson"],
        "reviewers": [],
        "days_ago": 150,
        "content": (
            "Welcome! In your first week you will get a laptop, accounts for GitHub, the cloud console "
            "and the on-call tool, and a buddy from your team who answers every question, however small.\n\n"
            "Day one: clone the monorepo, run make dev to start the services locally, and ship a small "
            "change (a typo fix counts) so you see the whole pipeline: review, CI, staging, production. "
            "Day two and three: read the architecture overview and the design notes of your team's "
            "services. By the end of the second week you shadow an on-call shift.\n\n"
            "Ask in #eng-help rather than in private messages, so the answer helps the next person too. "
            "Your manager schedules a 1:1 every week; bring what is blocking you."
        ),
    },
    {
        "slug": "runbooks/tls-certificate-rotation",
        "title": "Runbook: rotating TLS certificates",
        "category": "runbook",
        "tags": ["tls", "certificates", "security", "runbook"],
        "authors": ["john.smith"],
        "reviewers": [],
        "days_ago": 88,
        "content": (
            "Certificates for public endpoints are issued by Let's Encrypt through cert-manager and "
            "renew automatically 30 days before expiry. This runbook covers the ones that do not: the "
            "partner mTLS endpoint and the legacy load balancer.\n\n"
            "1. Generate a new key and certificate signing request; never reuse the old key. 2. Upload "
            "the signed certificate to the secrets manager under a new version. 3. Roll the load "
            "balancer listener to the new version and check the chain with openssl s_client. 4. Tell "
            "partners a week in advance when their pinned certificate changes. The expiry alert fires "
            "21 days before a certificate expires."
        ),
    },
    {
        "slug": "design/background-job-queue",
        "title": "Design note: moving background jobs to a queue",
        "category": "design",
        "tags": ["platform", "jobs", "queue"],
        "authors": ["wei.zhang"],
        "reviewers": [],
        "days_ago": 97,
        "content": (
            "Cron jobs on one machine run our nightly exports, reminder emails and cleanups. When that "
            "machine is replaced, jobs silently stop, and nothing retries a job that failed.\n\n"
            "We will enqueue jobs in a durable queue and run them on a pool of workers. Each job has "
            "an owner, a timeout, a retry policy with backoff and a dead-letter queue; schedules live in "
            "code next to the job. A job must be idempotent, since a worker may run it twice after a crash."
        ),
    },
    {
        "slug": "rfcs/shipments-multi-region",
        "title": "RFC: multi-region failover for the shipments API",
        "category": "rfc",
        "tags": ["shipments", "reliability", "rfc"],
        "authors": ["wei.zhang", "jose.garcia"],
        "reviewers": [],
        "days_ago": 9,
        "content": (
            "The shipments API, which carriers call with tracking updates, runs in one region. A "
            "regional outage would lose tracking events, and carriers only retry for an hour.\n\n"
            "Proposal: run the API active-active in two regions behind latency-based DNS, write "
            "tracking events to a replicated log before acknowledging them, and make processing "
            "idempotent on the carrier's event id. Failover is tested monthly by draining one region."
        ),
    },
    {
        "slug": "security/pii-in-logs",
        "title": "Security review: keeping customer PII out of logs",
        "category": "security",
        "tags": ["security", "privacy", "logging"],
        "authors": ["katherine.lee", "fatima.alsayed"],
        "reviewers": [],
        "days_ago": 55,
        "content": (
            "A sample of one day of application logs contained email addresses in 12 services and "
            "street addresses in 3. Logs are kept for 90 days and are readable by every engineer, so "
            "this is a GDPR exposure.\n\n"
            "Every service now logs through the shared logger, which redacts fields named email, "
            "phone, address and card, and a CI check rejects log statements that format whole request "
            "bodies. Existing logs with PII are deleted after 14 days instead of 90."
        ),
    },
    {
        "slug": "policies/analytics-retention",
        "title": "Data retention policy for analytics events",
        "category": "policy",
        "tags": ["data", "privacy", "policy"],
        "authors": ["priya.raman", "steven.clark"],
        "reviewers": [],
        "days_ago": 120,
        "content": (
            "Raw analytics events are kept for 13 months, long enough for year-over-year comparisons, "
            "then deleted. Aggregates without user identifiers are kept indefinitely.\n\n"
            "A deletion request from a customer removes their events from the warehouse within 30 days; "
            "the weekly job logs how many rows it removed. New event types must name an owner and a "
            "retention period before they are added to the tracking plan."
        ),
    },
    {
        "slug": "design/feature-flag-rollouts",
        "title": "Design note: gradual rollouts with feature flags",
        "category": "design",
        "tags": ["feature-flags", "releases", "growth"],
        "authors": ["alicia.johnson", "lars.eriksson"],
        "reviewers": [],
        "days_ago": 3,
        "content": (
            "New features ship dark behind a flag and are turned on for employees, then 1%, 10%, 50% "
            "and everyone, watching error rates and the feature's own metric at each step. A flag "
            "evaluates the same way on the server and in the apps, keyed on the account id so a "
            "customer never flips between variants.\n\n"
            "Flags are removed within two sprints of reaching 100%; the flag service reports flags "
            "older than that on the team dashboard."
        ),
    },
    {
        "slug": "guides/on-call-handbook",
        "title": "On-call handbook",
        "category": "guide",
        "tags": ["on-call", "incident", "guide"],
        "authors": ["john.smith", "sarah.khan"],
        "reviewers": [],
        "days_ago": 200,
        "content": (
            "You are on call for a week, Monday to Monday, with a secondary who takes over if you do "
            "not acknowledge a page within 10 minutes. Acknowledge first, then investigate; declare an "
            "incident in #incidents as soon as customers are affected.\n\n"
            "Your job during an incident is to restore service, not to find the root cause: roll back "
            "first. Write the timeline as you go. A post-mortem is due within five working days for "
            "every incident that affected customers, and it is blameless."
        ),
    },
    {
        "slug": "guides/carrier-tracking-webhooks",
        "title": "Integration guide: carrier tracking webhooks",
        "category": "guide",
        "tags": ["shipments", "carriers", "webhooks"],
        "authors": ["jose.garcia"],
        "reviewers": [],
        "days_ago": 70,
        "content": (
            "DHL, FedEx and UPS push tracking events to our webhook endpoint; sea carriers such as "
            "Maersk are polled every hour instead. Each carrier signs its requests differently: verify "
            "the signature before parsing the body and answer 200 quickly, then process the event from "
            "the queue.\n\n"
            "Map carrier status codes to our three statuses (in transit, delayed, delivered) in one "
            "table per carrier. Unknown codes are stored and reported, never dropped."
        ),
    },
]
