"""Export and import: tables as typed Arrow columns, dataframes and files, and files back in.

- `columns`: how a table's JSON Schema becomes Arrow types, and a typed row a record again;
- `batches`: stored rows as bounded record batches (`Database.iter_batches`);
- `files`: Parquet, JSON Lines and CSV, written batch by batch and read back;
- `importer`: every row checked, then written keeping ids and timestamps;
- `component`: the `Exchange` component behind `Database.to_arrow`, `to_pandas`, `to_polars`,
  `iter_batches`, `export` and `import_`.
"""

from remlite.exchange.component import Exchange

__all__ = ["Exchange"]
