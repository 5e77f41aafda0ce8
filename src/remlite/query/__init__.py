"""SQL: sqlglot parsing with remlite's dialect, predicate compilation, planning and execution."""
