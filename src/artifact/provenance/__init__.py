"""Evidence from the file itself about where it came from (metadata, later C2PA and watermarks)."""

from artifact.provenance.evidence import Evidence, apply_policy
from artifact.provenance.inspect import collect_evidence

__all__ = ["Evidence", "apply_policy", "collect_evidence"]
