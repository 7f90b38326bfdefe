"""One piece of evidence, and the policy that combines evidence with the CNN's opinion.

Policy: strong evidence of AI (a generator's own metadata, an IPTC/XMP AI source type, a
C2PA AI claim) makes the verdict ``ai`` whatever the CNN says, because nobody forges a claim
that their own work is AI. Everything else is listed beside the CNN's verdict, which decides.
Absence of evidence is never evidence of human work; camera EXIF is weak (forged in one line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

# "info" items say what was and was not checked (e.g. a bounded read); they point to neither.
Strength = Literal["strong", "moderate", "weak", "info"]
Direction = Literal["ai", "human", "neither"]


@dataclass(frozen=True)
class Evidence:
    kind: str
    strength: Strength
    points_to: Direction
    summary: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """As stored: NUL characters of file metadata dropped (no database stores them)."""
        return _without_nul(asdict(self))


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


@dataclass(frozen=True)
class Decision:
    verdict: str | None
    model_verdict: str | None
    decided_by: Literal["model", "evidence"]
    reason: str


def apply_policy(model_verdict: str | None, evidence: list[Evidence]) -> Decision:
    """The final verdict from the model's verdict and the evidence (see module docstring)."""
    strong_ai = [e for e in evidence if e.strength == "strong" and e.points_to == "ai"]
    if strong_ai:
        reason = "; ".join(e.summary for e in strong_ai)
        return Decision("ai", model_verdict, "evidence", f"the file says it was AI-generated: {reason}")
    return Decision(
        model_verdict, model_verdict, "model", "no decisive provenance evidence; the model decides"
    )
