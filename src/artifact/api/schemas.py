"""Request and response bodies. Family: Base -> Create -> Public -> XsPublic{data, count}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

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
    prob_ai: float | None
    uncertain_band: tuple[float, float] | None
    threshold: float | None
    probabilities: dict[str, float]
    label: str
    model: ModelRef
    processing_ms: float
    evidence: list[Evidence]
    image_url: str


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


class ArtworkPublic(BaseModel):
    id: int
    title: str
    artist: str
    created_at: datetime
    owner_id: int
    analysis: AnalysisPublic
    image_url: str


class ArtworksPublic(BaseModel):
    data: list[ArtworkPublic]
    count: int
