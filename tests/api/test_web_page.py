"""The web page in a real headless Chromium (Debian's), driven by Playwright, against the real server.

Screenshots of the main screens are saved under ``test-artifacts/screens/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.support.api import card_cut_points, expected_verdict, image_bytes
from tests.support.servers import Server

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path, artbench_run):
    server = Server(tmp_path / "data", artbench_run).start()
    yield server
    server.stop()


def test_a_juror_analyses_builds_the_gallery_and_makes_an_api_key(browser, server, tmp_path):
    SCREENS.mkdir(parents=True, exist_ok=True)
    artwork = tmp_path / "sunrise.png"
    artwork.write_bytes(image_bytes("ai", size=300, fmt="PNG"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff this is not really a picture")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server.url)
    page.screenshot(path=SCREENS / "01-sign-in.png")

    # Register (the form signs in straight away).
    page.get_by_text("New here? Register").click()
    form = page.locator("#register-form")
    form.get_by_label("Username").fill("juror1")
    form.get_by_label("Email").fill("juror1@example.org")
    form.get_by_label("Password").fill("correct horse")
    form.get_by_role("button", name="Register").click()
    page.locator("#view-analyse").wait_for(state="visible")

    # The drop zone is usable by keyboard: Enter activates the hidden file input (which opens the
    # chooser). We watch for that activation rather than for the browser's chooser dialog: whether
    # a headless build raises the dialog for a synthetic key press varied between Chromium builds.
    page.locator("#analyse-files").evaluate(
        "input => input.addEventListener('click', () => { window.chooserOpened = true; })"
    )
    page.locator("#dropzone").press("Enter")
    page.wait_for_function("() => window.chooserOpened === true", timeout=10_000)
    page.locator("#analyse-files").set_input_files([str(artwork), str(broken)])
    cards = page.locator("#results .card")
    good = cards.filter(has_text="sunrise.png")
    bad = cards.filter(has_text="broken.jpg")
    good.locator(".verdict").filter(has_text=re.compile("Likely|Uncertain")).wait_for()
    bad.locator(".verdict").filter(has_text="Could not analyse this file").wait_for()
    assert (
        "not an image" in bad.locator(".verdict").inner_text()
        or "corrupt" in bad.locator(".verdict").inner_text()
    )
    assert "P(AI) =" in good.locator(".numbers").inner_text()
    # The bar's three zones are the card's cut points; the words name the marker's zone.
    cuts = card_cut_points(server.model_dir)
    prob = float(re.search(r"P\(AI\) = ([0-9.]+)", good.locator(".numbers").inner_text()).group(1))
    words = {"ai": "Likely AI-generated", "human": "Likely made by a person", "uncertain": "Uncertain"}
    assert good.locator(".verdict").inner_text().startswith(words[expected_verdict(prob, cuts)])
    left = {z: float(good.locator(f".zone.{z}").evaluate("el => el.style.left").rstrip("%"))
            for z in ("human", "uncertain", "ai")}  # fmt: skip
    assert left["human"] == 0 and left["uncertain"] == pytest.approx(100 * cuts[0], abs=1e-3)
    assert left["ai"] == pytest.approx(100 * cuts[1], abs=1e-3)
    assert float(good.locator(".marker").evaluate("el => el.style.left").rstrip("%")) == pytest.approx(
        100 * prob, abs=0.1
    )
    assert good.locator(".zones-legend").is_visible()
    good.get_by_role("button", name="Show heatmap").click()
    good.locator("img.heat").wait_for(state="visible")
    assert "covering it lowers P(AI) most" in good.locator(".heat-legend").inner_text()
    assert good.locator("img.heat").get_attribute("src").startswith("blob:")
    assert good.get_by_role("button", name="Hide heatmap").get_attribute("aria-pressed") == "true"
    page.screenshot(path=SCREENS / "02-analysis-with-heatmap.png", full_page=True)

    # The gallery: submit, filter, open, delete.
    verdict = submit_artwork_in_page(page, "Sunrise", "A. Painter", artwork)
    page.screenshot(path=SCREENS / "03-gallery.png", full_page=True)
    page.locator("#gallery-filter").select_option(verdict)
    page.locator("#gallery-count").filter(has_text="1 artwork").wait_for()
    other = next(v for v in ("ai", "human", "uncertain") if v != verdict)
    page.locator("#gallery-filter").select_option(other)
    page.locator("#gallery-count").filter(has_text="0 artworks").wait_for()
    page.locator("#gallery-filter").select_option("")
    page.locator("#gallery li").get_by_role("button", name="Open").click()
    page.locator("#artwork-detail .card").filter(has_text="Sunrise — A. Painter").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#gallery li").get_by_role("button", name="Delete").click()
    page.locator("#gallery-count").filter(has_text="0 artworks").wait_for()

    # History and the account page: an API key, shown once, works from a plain HTTP client.
    page.get_by_role("button", name="History").click()
    page.locator("#history li").filter(has_text="sunrise.png").first.wait_for()
    page.get_by_role("button", name="Account").click()
    page.get_by_role("button", name="Create API key").click()
    page.locator("#new-key").wait_for(state="visible")
    key = page.locator("#new-key code").inner_text()
    assert key.startswith("afk_")
    page.screenshot(path=SCREENS / "04-account.png", full_page=True)
    listed = httpx.get(f"{server.url}/v1/analyses", headers={"X-API-Key": key})
    assert listed.status_code == 200 and listed.json()["count"] == 2
    page.locator("#keys li").get_by_role("button", name="Revoke").click()
    page.locator("#keys li").filter(has_text="(revoked)").wait_for()
    assert httpx.get(f"{server.url}/v1/analyses", headers={"X-API-Key": key}).status_code == 401
    page.close()


def test_phone_sized_screen_and_errors_in_words(browser, server):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(server.url)
    page.locator("#login-form").get_by_label("Username").fill("nobody")
    page.locator("#login-form").get_by_label("Password").fill("wrong password")
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    page.locator("#message").filter(has_text="Sign-in failed: wrong username or password").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / "05-phone-sign-in-error.png", full_page=True)
    page.close()


# Answers to requests whose URL contains ``window.slowFilter`` arrive 1.5 s late.
SLOW_GALLERY_ANSWERS = """
const realFetch = window.fetch;
window.slowAnswers = 0;
window.fetch = async (input, init) => {
  const slow = Boolean(window.slowFilter) && String(input).includes(window.slowFilter);
  try {
    const response = await realFetch(input, init);
    if (slow) await new Promise((resolve) => setTimeout(resolve, 1500));
    return response;
  } finally {
    if (slow) window.slowAnswers += 1;  // answered, or aborted by the page
  }
};
"""


def test_a_late_answer_does_not_overwrite_a_newer_gallery_filter(browser, server, tmp_path):
    """The filter changed twice quickly: the first request's answer arrives last and must not win."""
    artwork = tmp_path / "dawn.png"
    artwork.write_bytes(image_bytes("ai", size=96, fmt="PNG"))
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.add_init_script(SLOW_GALLERY_ANSWERS)
    page.goto(server.url)
    register_in_page(page, "filterer")
    verdict = submit_artwork_in_page(page, "Dawn", "B. Painter", artwork)
    other = next(v for v in ("ai", "human", "uncertain") if v != verdict)

    message = page.locator("#message").inner_text()
    page.evaluate("verdict => { window.slowFilter = `verdict=${verdict}`; }", verdict)
    page.locator("#gallery-filter").select_option(verdict)  # answered late: 1 artwork
    page.locator("#gallery-filter").select_option(other)  # answered at once: 0 artworks
    page.locator("#gallery-count").filter(has_text="0 artworks").wait_for()
    page.wait_for_function("() => window.slowAnswers >= 1")
    page.wait_for_timeout(300)  # room for a stale answer to be (wrongly) drawn
    assert page.locator("#gallery-count").inner_text() == "0 artworks"
    assert page.locator("#gallery li").count() == 0
    assert page.locator("#message").inner_text() == message  # a dropped request is no error to show
    page.close()


def start_job_in_page(browser, url: str, username: str, path: Path):
    """A new page: register, open the batch panel, submit ``path`` as a job."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    register_in_page(page, username)
    page.get_by_text("Many files, or a zip?").click()
    page.locator("#job-form").get_by_label("Images or zip archives").set_input_files(str(path))
    page.locator("#job-form").get_by_role("button", name="Start batch job").click()
    return page


def submit_artwork_in_page(page, title: str, artist: str, path: Path) -> str:
    """Open the gallery, submit one artwork, wait for it to be listed; its verdict badge."""
    page.get_by_role("button", name="Gallery").click()
    form = page.locator("#artwork-form")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Artist").fill(artist)
    form.get_by_label("Image").set_input_files(str(path))
    form.get_by_role("button", name="Submit artwork").click()
    page.locator("#gallery li").filter(has_text=title).wait_for()
    return page.locator("#gallery li .badge").first.inner_text()


def fill_registration(page, name: str, password: str = "correct horse") -> None:
    page.get_by_text("New here? Register").click()
    form = page.locator("#register-form")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Email").fill(f"{name}@example.org")
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Register").click()


def register_in_page(page, name: str) -> None:
    fill_registration(page, name)
    page.locator("#view-analyse").wait_for(state="visible")


def test_a_batch_job_from_a_zip_runs_in_the_background(browser, tmp_path, artbench_run, postgres_url):
    """PostgreSQL, a replica and a worker: the page starts a job from a zip and follows it to the end."""
    import zipfile

    from tests.support.servers import Worker

    env = {"ARTIFACT_DATABASE_URL": postgres_url}
    server = Server(tmp_path / "replica" / "data", artbench_run, env=env).start()
    worker = Worker(tmp_path / "replica" / "data", artbench_run, env).start()  # one machine: one data dir
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for i in range(5):
            bundle.writestr(
                f"entries/work-{i}.png", image_bytes("ai" if i % 2 else "human", 96, "PNG", seed=300 + i)
            )
        bundle.writestr("entries/README.txt", "the artists' statements")
    try:
        page = start_job_in_page(browser, server.url, "batcher", archive)
        page.locator("#message").filter(
            has_text="Batch job started: 5 files (1 entry that is not an image was left out)"
        ).wait_for()
        page.locator("#jobs li[data-status=done]").wait_for(timeout=60_000)
        status = page.locator("#jobs li").first.inner_text()
        assert "done, 5/5" in status and "could not" not in status
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENS / "06-batch-job-done.png", full_page=True)
        page.get_by_role("button", name="History").click()
        page.locator("#history li").nth(4).wait_for()
        assert page.locator("#history li").count() == 5
        page.close()
    finally:
        worker.stop()
        server.stop()


def test_without_postgresql_the_page_says_why_there_are_no_batch_jobs(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server.url)
    register_in_page(page, "sqliteuser")
    page.get_by_text("Many files, or a zip?").click()
    notice = page.locator("#job-unavailable")
    notice.filter(has_text="Batch jobs are not available on this server").wait_for()
    assert "PostgreSQL" in notice.inner_text()
    assert page.locator("#job-form").get_by_role("button", name="Start batch job").is_disabled()
    page.close()


def test_registration_with_a_weak_password_says_why_in_words(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server.url)
    fill_registration(page, "weakling", "weakling-2026")
    message = page.locator("#message").filter(has_text="too weak")
    message.wait_for()
    text = message.inner_text()
    assert "it contains your username or email" in text
    assert "Value error" not in text and "body" not in text and "pattern" not in text
    page.close()


def test_api_docs_work_offline(browser, server):
    """Swagger UI and ReDoc came from a CDN: offline both pages were blank."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    outside = []

    def only_this_server(route):
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{server.url}/docs")
    page.locator(".opblock").filter(has_text="/v1/analyze").first.wait_for(timeout=20_000)
    assert page.locator(".opblock").count() > 10
    page.goto(f"{server.url}/redoc")
    page.get_by_text("/v1/analyze").first.wait_for(timeout=20_000)
    assert outside == []
    page.goto(server.url)
    favicon = page.evaluate("() => fetch('/static/favicon.svg').then(r => r.status)")
    assert favicon == 200
    page.close()


def test_a_juror_records_a_decision_filters_by_it_and_exports_the_gallery(browser, server, tmp_path):
    import csv
    import io

    picture = tmp_path / "harbour.png"
    picture.write_bytes(image_bytes("human", size=200, fmt="PNG"))
    page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page.goto(server.url)
    register_in_page(page, "decider")
    verdict = submit_artwork_in_page(page, "Harbour", "B. Painter", picture)
    item = page.locator("#gallery li").filter(has_text="Harbour")
    assert "jury: not decided" in item.inner_text()
    item.get_by_role("button", name="Open").click()
    form = page.locator("#artwork-detail .decision-form")
    form.get_by_label("Decision").select_option("needs_proof")
    form.get_by_label("Note").fill("ask for the sketches")
    form.get_by_role("button", name="Record decision").click()
    page.locator("#artwork-detail .current-decision").filter(has_text="needs proof by decider").wait_for()
    assert "ask for the sketches" in page.locator("#artwork-detail .current-decision").inner_text()
    page.locator("#gallery li").filter(has_text="jury: needs proof (decider)").wait_for()
    # The machine's verdict is untouched beside it.
    assert verdict in page.locator("#gallery li .badge").first.inner_text()
    page.locator("#decision-filter").select_option("accepted")
    page.locator("#gallery-count").filter(has_text="0 artworks").wait_for()
    page.locator("#decision-filter").select_option("needs_proof")
    page.locator("#gallery-count").filter(has_text="1 artwork").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [(r["title"], r["artist"], r["decision"], r["decision_note"], r["verdict"]) for r in rows] == [
        ("Harbour", "B. Painter", "needs_proof", "ask for the sketches", verdict)
    ]
    with page.expect_download() as download:
        page.get_by_role("button", name="HTML report").click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Harbour — B. Painter" in report and "juror: needs proof (decider," in report
    page.close()


def test_history_pages_filters_and_opens_one_analysis_by_url(browser, server, tmp_path):
    import csv
    import io

    page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page.goto(server.url)
    register_in_page(page, "historian")
    token = page.evaluate("() => sessionStorage.getItem('artifact-token')")
    ids = []
    for i in range(23):
        response = httpx.post(f"{server.url}/v1/analyze", headers={"Authorization": f"Bearer {token}"},
                              files={"file": (f"work-{i:02d}.png", image_bytes("ai", 48, "PNG", seed=i))})  # fmt: skip
        ids.append(response.json()["id"])
    page.get_by_role("button", name="History").click()
    page.locator("#history-count").filter(has_text="1-20 of 23 analyses").wait_for()
    assert page.locator("#history li img").count() == 20
    page.get_by_role("button", name="Older").click()
    page.locator("#history-count").filter(has_text="21-23 of 23").wait_for()
    assert page.get_by_role("button", name="Older").is_disabled()
    page.locator("#history li a").filter(has_text="work-00.png").click()
    page.locator("#history-detail .card").filter(has_text="work-00.png").wait_for()
    assert "P(AI) =" in page.locator("#history-detail .numbers").inner_text()
    # The same view from a bare URL, in a fresh page of the same session.
    fresh = browser.new_page(viewport={"width": 1200, "height": 900})
    fresh.goto(server.url)
    fresh.evaluate(f"() => sessionStorage.setItem('artifact-token', {token!r})")
    fresh.goto(f"{server.url}/?from=link#analysis-{ids[5]}")  # a full load, as a pasted link
    fresh.locator("#history-detail .card").filter(has_text="work-05.png").wait_for()
    assert fresh.locator("#history-detail .zone.ai").count() == 1
    # The verdict filter asks the server for that verdict only.
    verdicts = [a["verdict"] for a in httpx.get(f"{server.url}/v1/analyses?limit=100",
                headers={"Authorization": f"Bearer {token}"}).json()["data"]]  # fmt: skip
    shown = verdicts[0]
    page.locator("#history-filter").select_option(shown)
    expected = verdicts.count(shown)
    page.locator("#history-count").filter(has_text=f"of {expected} analyses").wait_for()
    # Days filter on the server, and the export takes the same filters.
    page.locator("#history-filter").select_option("")
    page.locator("#history-until").fill("2020-01-01")
    page.locator("#history li").filter(has_text="No analyses yet.").wait_for()
    page.locator("#history-until").fill("")
    page.locator("#history-since").fill("2020-01-01")
    page.locator("#history-count").filter(has_text="1-20 of 23 analyses").wait_for()
    assert page.locator("#history-owner-label").is_hidden()  # a juror sees only their own
    with page.expect_download() as download:
        page.locator("#export-history").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert sorted(r["filename"] for r in rows) == [f"work-{i:02d}.png" for i in range(23)]
    page.close()
    fresh.close()
