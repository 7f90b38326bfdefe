"""Request and response bodies. Family: Base -> Create -> Public -> XsPublic{data, count}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from artifact.security import password_weakness

Role = Literal["admin", "juror"]
VerdictFilter = Literal["ai", "human", "uncertain"]
# Ids are 32-bit integer columns on every backend: anything larger is simply not found.
MAX_ID = 2_147_483_647
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]


class UserBase(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=256)

    @model_validator(mode="after")
    def _strong_enough(self) -> UserCreate:
        problem = password_weakness(self.password, self.username, self.email)
        if problem:
            raise ValueError(f"the password is too weak: {problem}")
        return self


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)
    id: int
    role: Role
    created_at: datetime


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class ApiKeyCreate(BaseModel):
    name: str = Field("default", min_length=1, max_length=100)


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="shown once; only its hash is stored")


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class Evidence(BaseModel):
    kind: str
    strength: Literal["strong", "moderate", "weak", "info"]
    points_to: Literal["ai", "human", "neither"]
    summary: str
    details: dict = {}


class ModelRef(BaseModel):
    name: str
    sha256: str


class CutPoints(BaseModel):
    """The decision rule on ``prob_ai``: ``human`` at or below ``human``, ``ai`` at or above
    ``ai``, ``uncertain`` between."""

    human: float
    ai: float


class ArtworkRef(BaseModel):
    id: int
    title: str
    artist: str


class AnalysisPublic(BaseModel):
    id: int
    created_at: datetime
    filename: str
    image_sha256: str
    verdict: VerdictFilter | None = Field(
        description="final verdict: the model's, unless strong evidence decides"
    )
    model_verdict: VerdictFilter | None = Field(description="the model's own verdict")
    verdict_reason: str
    prob_ai: float | None = Field(description="calibrated probability that the image is AI-made")
    score: float | None = Field(description="the model's raw output before calibration")
    cut_points: CutPoints | None = Field(description="the model's verdict zones on prob_ai")
    uncertain_band: tuple[float, float] | None = Field(
        description="(human cut, AI cut): the uncertain zone lies strictly between"
    )
    threshold: float | None = Field(description="the AI cut")
    probabilities: dict[str, float]
    label: str
    model: ModelRef
    processing_ms: float
    evidence: list[Evidence]
    image_url: str
    owner: str | None = Field(None, description="who uploaded it (in lists)")
    artwork: ArtworkRef | None = Field(None, description="the gallery artwork it was uploaded as")


class AnalysesPublic(BaseModel):
    data: list[AnalysisPublic]
    count: int


class BatchItem(BaseModel):
    filename: str
    analysis: AnalysisPublic | None = None
    error: dict | None = None


class BatchPublic(BaseModel):
    data: list[BatchItem]
    count: int
    failed: int


DecisionWord = Literal["accepted", "rejected", "needs_proof"]
DecisionFilter = Literal["accepted", "rejected", "needs_proof", "undecided"]


class DecisionCreate(BaseModel):
    decision: DecisionWord
    note: str = Field("", max_length=2000)


class DecisionPublic(BaseModel):
    decision: DecisionWord
    note: str
    decided_by: str = Field(description="the juror's username")
    decided_at: datetime


class ArtworkPublic(BaseModel):
    id: int
    title: str
    artist: str
    created_at: datetime
    owner_id: int
    analysis: AnalysisPublic
    decision: DecisionPublic | None = Field(
        None, description="the newest juror decision; the analysis itself never changes"
    )
    image_url: str


class ArtworksPublic(BaseModel):
    data: list[ArtworkPublic]
    count: int


JobStatus = Literal["queued", "running", "done", "failed"]


class JobFilePublic(BaseModel):
    position: int
    filename: str
    status: Literal["pending", "done", "error"]
    analysis: AnalysisPublic | None = None
    error: dict | None = None


class JobPublic(BaseModel):
    id: str
    status: JobStatus
    total: int
    done: int = Field(description="files analysed or failed so far")
    failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    skipped: list[str] = Field(default_factory=list, description="zip entries that are not images")
    results: list[JobFilePublic] | None = Field(None, description="per file, in submission order (GET)")
    url: str


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int
