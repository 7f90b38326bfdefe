"""Batch jobs: files submitted at once (``POST /v1/jobs``), analysed later by ``artifact worker``
from a queue in PostgreSQL (procrastinate)."""
