"""Scanning many files: one row schema (:mod:`.rows`), one source iterator (:mod:`.sources`), one
partition function with one model per process (:mod:`.partition`), run by a local process pool
writing a report (:mod:`.local`) or by Dask writing Parquet (:mod:`.distributed`)."""
