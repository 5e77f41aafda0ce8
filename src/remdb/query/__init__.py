"""SQL: sqlglot parsing with remdb's dialect, predicate compilation, planning and execution."""
