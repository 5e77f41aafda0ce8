"""`remlite serve`: the HTTP API over every tenant of a root directory, with API keys per tenant
(`keys`), generated from one table of operations (`operations`), and its remote client (`client`).
FastAPI and uvicorn are the `serve` extra: `pip install 'remlite[serve]'`."""
