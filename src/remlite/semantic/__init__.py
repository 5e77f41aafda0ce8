"""The semantic layer as the database uses it: text and vector indexes kept in step with rows,
and search (vector, BM25, hybrid) with pre-filtering."""
