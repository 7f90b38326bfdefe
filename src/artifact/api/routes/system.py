"""Probes, metrics and the model card."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from artifact.api.deps import CurrentUser, PredictorDep
from artifact.storage.database import is_ready

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz() -> dict:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready: the model is loaded and the database migrated (503 until then)."""
    model = getattr(request.app.state, "predictor", None) is not None
    database = is_ready(request.app.state.engine)
    ready = model and database
    queue_ready = getattr(request.app.state, "job_queue", None) is not None
    capabilities = {
        "batch_jobs": queue_ready,
        "batch_jobs_reason": None if queue_ready else getattr(request.app.state, "job_queue_problem", None),
    }
    body = {
        "status": "ready" if ready else "not_ready",
        "model": model,
        "database": database,
        "capabilities": capabilities,
    }
    if not ready:
        body = {"error": {"code": "not_ready", "message": "not ready"}, **body}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/v1/model", tags=["model"])
def model_card(predictor: PredictorDep, _user: CurrentUser) -> dict:
    """The model card of the model in service (labels, preprocessing, threshold, metrics)."""
    return predictor.card.model_dump(mode="json")
