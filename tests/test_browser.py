"""The admin in a real browser: Playwright driving Debian's headless Chromium against a live server.

Each test does one thing an operator does and asserts what they see. The tests
also take the README's screenshots; ``make screenshots`` (SEABLY_SCREENSHOTS=1)
writes them to ``docs/screenshots/``, so those stay true without every test run
changing files in the work tree.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; never a downloaded
browser) and the ``playwright`` package (requirements/test.txt). Marked ``browser``:
``make test`` deselects the module; without Chromium its tests are skipped, which
CI (SEABLY_FORBID_SKIPS) turns into a failure.
"""

from __future__ import annotations

import copy
import csv
import datetime
import io
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from django_seably.certificates import extract_fields
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.signals import certificate_created
from tests.conftest import load_payload
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
try:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, expect, sync_playwright
except ImportError:
    pytest.skip(
        "browser tests need the playwright package: pip install -r requirements/test.txt (never `playwright install`)",
        allow_module_level=True,
    )

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling Google's services, which a closed network answers slowly or not at all.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Every wait (an action, a navigation, an expect) gives up after this many milliseconds.
TIMEOUT_MS = 10_000

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("SEABLY_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "django-seably-screenshots"
)

PASSWORD = "correct horse battery staple"

#: The certificate whose certificate_created receiver fails while the data is seeded.
FAILING_ID = "SB-00000666"
FAILING_ERROR = f"CRM unavailable: could not sync certificate {FAILING_ID} (503 Service Unavailable)"

#: A delivery cut off in the middle: stored as an invalid event.
TRUNCATED_BODY = b'{"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": "SB-0000'

# Learners and courses of the certificates issued before today (factories), and per day how many.
LEARNERS = [
    ("Jonas", "Berg", "jonas.berg@example.no"),
    ("Maria", "Santos", "maria.santos@example.pt"),
    ("Piotr", "Nowak", "piotr.nowak@example.pl"),
    ("Aisha", "Okafor", "aisha.okafor@example.com"),
    ("Lars", "Eriksen", "lars.eriksen@example.dk"),
    ("Chen", "Wei", "chen.wei@example.com"),
]
COURSES = ["Enclosed Space Entry", "Basic Fire Fighting", "Crowd Management", "Ballast Water Management"]
EVENTS_PER_DAY_AGO = {1: 3, 2: 5, 3: 2, 5: 4, 6: 5, 7: 3, 8: 1, 9: 4, 12: 2, 13: 5, 14: 3, 16: 2, 19: 4, 20: 1, 29: 2}


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API runs an asyncio event loop in this thread, so Django's
    # async-safety check would refuse every query the test thread makes (fixtures,
    # factories, assertions on the database) with SynchronousOnlyOperation, though
    # no coroutine ever touches the database. Allowed for this module's tests only.
    with pytest.MonkeyPatch.context() as patch:
        if "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ:
            patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as instance:
            expect.set_options(timeout=TIMEOUT_MS)
            yield instance


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Checked here, not at import: `make test` deselects this module (-m "not browser")
    # and must not report it as skipped on a machine without Chromium.
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, live_server: Any) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=live_server.url,
        viewport=VIEWPORT,
        permissions=["clipboard-read", "clipboard-write"],
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def admin_user(transactional_db: None, settings: Any) -> User:
    # The real login form checks the password: a fast hasher instead of PBKDF2 for the test user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def page(context: BrowserContext, admin_user: User) -> Page:
    """A page logged in through the admin's login form, on the admin index."""
    page = context.new_page()
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    return page


# --- data ------------------------------------------------------------------------------


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as Seably does; return the status and the JSON answer."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "Seably/1.0"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def certificate_payload(name: str, **changes: Any) -> bytes:
    """The payload in ``tests/payloads/name`` with ``changes`` applied to its ``payload.data``."""
    body = json.loads(load_payload(name))
    data = body["payload"]["data"]
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return json.dumps(body, indent=2).encode()


def _fail_for_one_certificate(sender: Any, event: WebhookEvent, certificate: Certificate, **kwargs: Any) -> None:
    """A project's receiver whose CRM is down for one certificate."""
    if certificate.seably_id == FAILING_ID:
        raise RuntimeError(FAILING_ERROR)


def seed_history(seably_endpoint: Endpoint) -> None:
    """Certificates issued on the days before today, as processed events (factories), oldest first."""
    now = timezone.now()
    number = 500
    for days_ago, count in sorted(EVENTS_PER_DAY_AGO.items(), reverse=True):
        for hour in range(count):
            number += 1
            first, last, email = LEARNERS[number % len(LEARNERS)]
            when = (now - datetime.timedelta(days=days_ago)).replace(hour=8 + hour, minute=number % 60, second=0)
            seably_id = f"SB-{number:08d}"
            body = certificate_body(
                seably_id,
                created_at=when.isoformat().replace("+00:00", "Z"),
                valid_until=(when + datetime.timedelta(days=730)).date().isoformat(),
                url=f"https://www.seably.com/certificates/{seably_id}",
                user={"id": 7000 + number, "email": email, "first_name": first, "last_name": last},
                course={"id": 100 + number % len(COURSES), "name": COURSES[number % len(COURSES)], "version": 2},
            )
            event = WebhookEventFactory.create(
                processed=True, endpoint=seably_endpoint, payload=body, received_at=when, processed_at=when
            )
            data = copy.deepcopy(body["payload"]["data"])
            CertificateFactory.create(seably_id=seably_id, data=data, event=event, **extract_fields(data))


@pytest.fixture
def seeded(transactional_db: None, live_server: Any) -> dict[str, Any]:
    """History from the factories, then today's deliveries POSTed to the live server.

    Today: three certificates (one delivered twice), a user.invited, a certificate
    whose receiver fails (failed, with its traceback), and a truncated body (invalid).
    """
    endpoint = EndpointFactory.create(name="production")
    seed_history(endpoint)
    url = live_server.url + endpoint.webhook_path
    flat = load_payload("certificate_created_flat.json")
    failing = certificate_payload(
        "certificate_created_flat.json",
        id=FAILING_ID,
        url=f"https://www.seably.com/certificates/{FAILING_ID}",
        user={"id": 7402, "email": "tomas.lind@example.se", "first_name": "Tomas", "last_name": "Lind"},
        course={"id": 131, "name": "Basic Fire Fighting", "version": 5},
    )
    certificate_created.connect(_fail_for_one_certificate, weak=False)
    try:
        answers = [
            post(url, load_payload("certificate_created_minimal.json")),
            post(url, flat),
            post(url, load_payload("certificate_created_jsonapi.json")),
            post(url, load_payload("user_invited_future.json")),
            post(url, failing),
            post(url, flat),  # Seably retries: one event, two deliveries
            post(url, TRUNCATED_BODY),
        ]
    finally:
        certificate_created.disconnect(_fail_for_one_certificate)
    statuses = [(code, answer.get("status")) for code, answer in answers]
    assert statuses == [(200, "accepted")] * 5 + [(200, "duplicate"), (400, None)]
    return {
        "endpoint": endpoint,
        "failed": WebhookEvent.objects.get(object_id=FAILING_ID),
        "invalid": WebhookEvent.objects.get(status=WebhookEvent.Status.INVALID),
    }


# --- helpers ---------------------------------------------------------------------------


def open_from_index(page: Page, link: str) -> None:
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name=link, exact=True).click()


def rows(page: Page) -> Any:
    return page.locator("#result_list tbody tr")


def run_action(page: Page, action: str) -> None:
    page.locator("select[name=action]").select_option(label=action)
    # Django 5.2 labels the button "Go", Django 6 "Run".
    page.locator("#changelist-form").get_by_role("button", name=re.compile(r"^(Go|Run)$")).click()


def screenshot(page: Page, name: str, *, down_to: Any = None) -> None:
    """Save a README screenshot of the top of the page as a user first sees it (the sidebar as Django left it).

    With ``down_to`` (an element), the window is made as tall as the page down to
    that element for the shot: a full-page capture would paint the sticky sidebar
    toggle in the middle of the picture.
    """
    viewport = page.viewport_size or VIEWPORT
    if down_to is not None:
        bottom = down_to.evaluate("element => element.getBoundingClientRect().bottom + window.scrollY")
        page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], round(bottom) + 16)})
    page.evaluate("() => window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, animations="disabled", caret="hide")
    page.set_viewport_size(viewport)


# --- events ----------------------------------------------------------------------------


def test_log_in_and_see_the_event_list(page, seeded):
    open_from_index(page, "Webhook events")

    expect(page.get_by_role("heading", name="Select webhook event to view")).to_be_visible()
    total = WebhookEvent.objects.count()
    expect(rows(page)).to_have_count(total)
    expect(page.locator(".paginator")).to_contain_text(f"{total} webhook events")
    newest = rows(page).first
    expect(newest).to_contain_text("invalid")
    expect(newest.locator(".seably-badge")).to_have_class(re.compile(r"\bseably-invalid\b"))
    failed_row = rows(page).filter(has_text=FAILING_ID)
    expect(failed_row).to_contain_text("certificate.created")
    expect(failed_row.locator(".seably-badge")).to_have_text("failed")
    expect(failed_row.locator(".seably-badge")).to_have_css("background-color", "rgb(198, 40, 40)")
    expect(page.locator(".seably-badge.seably-failed")).to_have_count(1)
    expect(page.locator(".seably-badge.seably-invalid")).to_have_count(1)
    expect(page.locator(".seably-badge.seably-processed")).to_have_count(total - 2)
    expect(rows(page).filter(has_text="SB-00000042").locator(".field-delivery_count")).to_have_text("2")


def test_filter_the_failed_events(page, seeded):
    open_from_index(page, "Webhook events")

    status_filter = page.locator("#changelist-filter details[data-filter-title='status']")
    status_filter.get_by_role("link", name="failed", exact=True).click()

    expect(page).to_have_url(re.compile(r"[?&]status__exact=failed\b"))
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text(FAILING_ID)
    expect(rows(page).first.locator(".seably-badge")).to_have_text("failed")
    expect(status_filter.locator("li.selected")).to_have_text("failed")


def test_open_a_failed_event(page, seeded):
    open_from_index(page, "Webhook events")
    page.locator("#changelist-filter details[data-filter-title='status']").get_by_role("link", name="failed").click()
    rows(page).first.locator("th a").click()

    change_url = f"/admin/django_seably/webhookevent/{seeded['failed'].pk}/change/"
    expect(page).to_have_url(re.compile(rf"{change_url}\?_changelist_filters=status__exact%3Dfailed$"))
    expect(page.locator(".field-status_badge .seably-badge")).to_have_text("failed")
    error = page.locator("pre.seably-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Traceback (most recent call last):")
    expect(error).to_contain_text(f"RuntimeError: {FAILING_ERROR}")
    payload = page.locator(".field-formatted_payload pre.seably-json")
    expect(payload).to_be_visible()
    text = payload.inner_text()
    assert json.loads(text)["payload"]["data"]["id"] == FAILING_ID
    assert '\n  "event": "certificate.created",\n  "payload": {\n    "data": {\n' in text
    expect(page.locator(".field-certificate_link")).to_contain_text("—")
    # From the top to the traceback; the body (the payload again, unformatted) is left out.
    screenshot(page, "event.png", down_to=page.locator(".field-formatted_error"))


def test_reprocess_the_failed_event(page, seeded):
    # The receiver that failed was disconnected once the data was seeded: the CRM is back.
    failed = seeded["failed"]
    open_from_index(page, "Webhook events")

    page.locator(f"input.action-select[value='{failed.pk}']").check()
    expect(page.locator(".action-counter")).to_contain_text("1 of")
    run_action(page, "Reprocess selected events")

    expect(page.locator("ul.messagelist li.success")).to_have_text(
        "Reprocessed events: 1 processed, 0 failed, 0 skipped."
    )
    expect(page.locator("ul.messagelist li.error")).to_have_count(0)
    expect(rows(page).filter(has_text=FAILING_ID).locator(".seably-badge")).to_have_text("processed")
    expect(page.locator(".seably-badge.seably-failed")).to_have_count(0)
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("processed", 2, "")
    assert Certificate.objects.get(seably_id=FAILING_ID).learner_email == "tomas.lind@example.se"


# --- certificates ----------------------------------------------------------------------


def test_find_a_certificate_by_email(page, seeded):
    open_from_index(page, "Certificates")

    search = page.locator("#searchbar")
    search.fill("Asa.Lindqvist@EXAMPLE.se")
    search.press("Enter")

    expect(page).to_have_url(re.compile(r"\?q=Asa\.Lindqvist%40EXAMPLE\.se$"))
    expect(rows(page)).to_have_count(1)
    row = rows(page).first
    expect(row.locator(".field-seably_id")).to_have_text("SB-00000107")
    expect(row.locator(".field-learner_name")).to_have_text("Åsa Lindqvist-Nyström")
    expect(row.locator(".field-email")).to_have_text("asa.lindqvist@example.se")
    expect(row.locator(".field-course_name")).to_have_text("Ballastvattenhantering — grundkurs")
    row.get_by_role("link", name="SB-00000107").click()
    expect(page.locator(".field-formatted_data pre.seably-json")).to_contain_text('"learner_email": "asa.lindqvist')


def test_export_certificates_as_csv(page, seeded):
    open_from_index(page, "Certificates")
    expect(rows(page)).to_have_count(Certificate.objects.count())

    page.locator("#action-toggle").check()
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        run_action(page, "Export selected certificates as CSV")
    download = download_info.value

    assert download.suggested_filename == "certificates.csv"
    path = download.path()
    assert download.failure() is None
    table = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert sorted(row["seably_id"] for row in table) == sorted(Certificate.objects.values_list("seably_id", flat=True))
    by_id = {row["seably_id"]: row for row in table}
    assert by_id["SB-00000042"] == {
        "seably_id": "SB-00000042",
        "learner_name": "Ingrid Solberg",
        "learner_email": "ingrid.solberg@example.com",
        "course_name": "Enclosed Space Entry",
        "issued_at": "2026-11-02T09:14:05+00:00",
        "expires_on": "2028-11-02",
        "url": "https://www.seably.com/certificates/SB-00000042",
        "created_at": by_id["SB-00000042"]["created_at"],
    }
    assert by_id["SB-00000107"]["learner_name"] == "Åsa Lindqvist-Nyström"
    assert by_id["SB-00000001"]["learner_email"] == ""
    assert FAILING_ID not in by_id  # its processing was rolled back


# --- overview --------------------------------------------------------------------------


def test_overview_shows_the_chart_and_the_counts(page, seeded):
    open_from_index(page, "Overview")

    expect(page.get_by_role("heading", name="Seably overview")).to_be_visible()
    total = WebhookEvent.objects.count()
    expect(page.get_by_role("heading", name=re.compile(r"Events per day"))).to_have_text(
        f"Events per day, last 30 days ({total} in all)"
    )
    chart = page.get_by_role("img", name="Events per day")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 150
    bars = chart.locator("rect.seably-bar")
    expect(bars).to_have_count(30)
    heights = [float(height) for height in bars.evaluate_all("bars => bars.map(bar => bar.getAttribute('height'))")]
    assert sum(1 for height in heights if height > 0) == len(EVENTS_PER_DAY_AGO) + 1
    assert heights[-1] == max(heights) > max(heights[:-1])  # today: the most events
    today = WebhookEvent.objects.filter(received_at__date=timezone.localdate()).count()
    expect(chart.locator("text.seably-bar-count").last).to_have_text(str(today))

    counts = page.locator(".module", has=page.get_by_role("heading", name="Events by status"))
    for status, count in [("processed", total - 2), ("pending", 0), ("failed", 1), ("invalid", 1)]:
        expect(counts.locator("tr", has=page.locator(f".seably-{status}"))).to_contain_text(str(count))
    attention = page.locator(".module", has=page.get_by_role("heading", name="Needs attention"))
    expect(attention.get_by_role("link", name=re.compile(r"certificate\.created #"))).to_have_text(
        f"certificate.created #{seeded['failed'].pk}"
    )

    counts.locator("tr", has=page.locator(".seably-failed")).get_by_role("link", name="1", exact=True).click()
    expect(page).to_have_url(re.compile(r"status__exact=failed$"))
    expect(rows(page)).to_have_count(1)


# --- endpoints -------------------------------------------------------------------------


def webhook_url_of(page: Page) -> str:
    field = page.get_by_role("textbox", name="Webhook URL")
    expect(field).to_be_visible()
    return field.input_value()


def test_create_an_endpoint_and_copy_its_url(page, live_server):
    open_from_index(page, "Endpoints")
    page.get_by_role("link", name=re.compile(r"Add endpoint", re.IGNORECASE)).click()
    expect(page.get_by_role("textbox", name="Webhook URL")).to_have_count(0)
    page.get_by_label("Name").fill("Seably production")
    expect(page.get_by_label("Active")).to_be_checked()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("ul.messagelist li.success")).to_contain_text("was added successfully")
    endpoint = Endpoint.objects.get(name="Seably production")
    assert page.url.endswith("/admin/django_seably/endpoint/")
    row = rows(page).filter(has_text="Seably production")
    expect(row.locator(".field-masked_token")).to_have_text(endpoint.masked_token)
    assert endpoint.token not in page.content()

    row.get_by_role("link", name="Seably production").click()
    url = webhook_url_of(page)
    assert url == f"{live_server.url}/seably/{endpoint.token}/"
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_text("Copied", exact=True)).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == url


def test_rotate_a_token(page):
    endpoint = EndpointFactory.create(name="production")
    old_token = endpoint.token
    open_from_index(page, "Endpoints")
    rows(page).get_by_role("link", name="production", exact=True).click()
    old_url = webhook_url_of(page)
    assert old_url.endswith(f"/seably/{old_token}/")
    assert page.request.get(old_url).json() == {"status": "ready"}

    page.go_back()
    page.locator(f"input.action-select[value='{endpoint.pk}']").check()
    run_action(page, "Rotate token of selected endpoints")
    expect(page.get_by_role("heading", name="Rotate tokens?")).to_be_visible()
    expect(page.locator("#content")).to_contain_text(f"production (token {endpoint.masked_token})")
    assert old_token not in page.content()
    page.get_by_role("button", name="Yes, rotate").click()

    expect(page.locator("ul.messagelist li.success")).to_have_text(
        "Rotated the token of 1 endpoint: its old URL now answers 404. Register the new URL on Seably."
    )
    endpoint.refresh_from_db()
    assert endpoint.token != old_token
    expect(rows(page).locator(".field-masked_token")).to_have_text(endpoint.masked_token)
    assert endpoint.token not in page.content()
    assert old_token not in page.content()

    rows(page).get_by_role("link", name="production", exact=True).click()
    new_url = webhook_url_of(page)
    assert new_url.endswith(f"/seably/{endpoint.token}/")
    gone = page.request.get(old_url)
    assert (gone.status, gone.json()) == (404, {"error": "Not found."})
    ready = page.request.get(new_url)
    assert (ready.status, ready.json()) == (200, {"status": "ready"})


# --- layout ----------------------------------------------------------------------------


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def test_the_endpoint_page_fits_a_400_px_screen(page):
    endpoint = EndpointFactory.create(name="production")
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto(f"/admin/django_seably/endpoint/{endpoint.pk}/change/")
    url_box = page.get_by_role("textbox", name="Webhook URL")
    expect(url_box).to_be_visible()

    assert horizontal_overflow(page) == 0
    assert url_box.evaluate("element => element.getBoundingClientRect().right") <= 400


#: The words of every text in ``root`` that the browser laid out on more than one line: a word is a
#: run of characters without whitespace or hyphen in one text node (list_value's <wbr> points end
#: a text node, so "certificate." and "created" are two words that may go on two lines).
BROKEN_WORDS_JS = """root => {
    const broken = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const match of node.textContent.matchAll(/[^\\s\\-]+/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom)));
            if (lines.size > 1) broken.push(match[0]);
        }
    }
    return broken;
}"""

#: Badges whose text takes more than one line: taller than the same badge alone on one line, or its
#: text laid out on several lines.
WRAPPED_BADGES_JS = """badges => badges.filter(badge => {
    const alone = badge.cloneNode(true);
    alone.style.whiteSpace = "nowrap";
    alone.style.position = "absolute";
    badge.after(alone);  // beside it: the same inherited font and line height
    const oneLine = alone.getBoundingClientRect().height;
    alone.remove();
    const range = document.createRange();
    range.selectNodeContents(badge);
    const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom)));
    return lines.size !== 1 || badge.getBoundingClientRect().height > oneLine + 0.5;
}).map(badge => badge.textContent)"""

WIDTHS = [1280, 400]


def assert_words_whole(page: Page, root: str) -> None:
    """No word in ``root`` and no status badge on the page is split across lines."""
    expect(page.locator(root)).to_be_visible()
    assert page.locator(root).evaluate(BROKEN_WORDS_JS) == []
    badges = page.locator(".seably-badge")
    assert badges.count() > 0
    assert badges.evaluate_all(WRAPPED_BADGES_JS) == []


def one_line_each(cells: Any) -> list[str]:
    """The texts of ``cells`` laid out on more than one line."""
    texts: list[str] = cells.evaluate_all(
        """cells => cells.filter(cell => {
            const range = document.createRange();
            range.selectNodeContents(cell);
            return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom))).size > 1;
        }).map(cell => cell.textContent)"""
    )
    return texts


def open_at(page: Page, width: int, link: str) -> None:
    """Open ``link`` from the admin index in a window ``width`` pixels wide, Django's sidebar as a user first has it."""
    page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
    open_from_index(page, link)
    if width >= 768:  # Django hides the navigation sidebar below 768 px
        expect(page.locator("#nav-sidebar")).to_be_visible()
        expect(page.locator("#main")).to_have_class(re.compile(r"\bshifted\b"))


def suffix(width: int) -> str:
    return "" if width == VIEWPORT["width"] else f"-{width}"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_event_list_reads_well_with_the_sidebar_open(page, seeded, width):
    open_at(page, width, "Webhook events")

    assert_words_whole(page, "#result_list")
    header = page.locator("#result_list thead th.column-id")
    assert header.evaluate("element => element.textContent.trim()") == "ID"
    assert one_line_each(rows(page).locator(".field-object")) == []  # not even at its hyphen
    assert horizontal_overflow(page) == 0
    screenshot(page, f"events{suffix(width)}.png")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_certificate_list_reads_well_with_the_sidebar_open(page, seeded, width):
    open_at(page, width, "Certificates")
    expect(rows(page)).to_have_count(Certificate.objects.count())

    assert page.locator("#result_list").evaluate(BROKEN_WORDS_JS) == []
    assert one_line_each(rows(page).locator(".field-seably_id")) == []  # not even at its hyphen
    assert horizontal_overflow(page) == 0
    screenshot(page, f"certificates{suffix(width)}.png")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_overview_reads_well_with_the_sidebar_open(page, seeded, width):
    open_at(page, width, "Overview")

    assert_words_whole(page, ".seably-overview")
    assert horizontal_overflow(page) == 0
    chart = page.get_by_role("img", name="Events per day")
    box = chart.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    # Readable: every date label and count at least 8 px tall on the screen, and no two labels overlap.
    labels = chart.locator("text.seably-bar-label")
    expect(labels).to_have_count(7)
    sizes = chart.locator("text").evaluate_all("texts => texts.map(text => text.getBoundingClientRect().height)")
    assert min(sizes) >= 8, sizes
    spans = labels.evaluate_all(
        "labels => labels.map(label => [label.getBoundingClientRect().left, label.getBoundingClientRect().right])"
    )
    assert all(right < next_left for (_, right), (next_left, _) in zip(spans, spans[1:], strict=False)), spans
    screenshot(page, f"overview{suffix(width)}.png")


@pytest.mark.parametrize(("link", "last_column"), [("Webhook events", "attempts"), ("Certificates", "expires_on")])
def test_a_list_shows_its_last_column_at_1280_px_beside_the_sidebar(page, seeded, link, last_column):
    open_at(page, VIEWPORT["width"], link)
    header = page.locator(f"#result_list thead th.column-{last_column}")
    expect(header).to_be_visible()

    assert page.locator("#changelist .results").evaluate("element => element.scrollWidth <= element.clientWidth")
    assert header.evaluate("element => element.getBoundingClientRect().right") <= VIEWPORT["width"]
    assert horizontal_overflow(page) == 0


def test_a_long_value_is_cut_with_the_whole_value_on_hover(page, seeded):
    long_type = "certificate.created.by.a.future.version.of.seably.with.a.long.namespaced.name"
    payload = {"event": long_type, "payload": {"data": {"type": "certificate", "id": "SB-00000900"}}}
    WebhookEventFactory.create(endpoint=seeded["endpoint"], payload=payload)
    open_at(page, VIEWPORT["width"], "Webhook events")

    cut = rows(page).first.locator(".field-type .seably-cut")
    expect(cut).to_have_attribute("title", long_type)
    expect(cut).to_have_text(long_type[:59] + "…")
    assert page.locator("#changelist .results").evaluate("element => element.scrollWidth <= element.clientWidth")
