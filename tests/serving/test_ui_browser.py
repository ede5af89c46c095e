"""The web page in a real headless Chromium (Debian's), against a real ``bentoml serve``.

A person's path through the page: a bad login, a login by typing and clicking, a game and a
player prediction whose numbers must equal the API's answers to the same requests, the models
table, the unknown-team, service-down and expired-token errors, log out, and the phone-sized
layout (390x844) without horizontal scrolling. Screenshots go to ``.cache/test-artifacts/``.
Without Chromium the test is skipped, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from serving.auth import TokenIssuer
from tests.serving.conftest import GAME_DAY, JWT_SECRET, USER, USER_PASSWORD
from tests.serving.test_serve_process import server  # noqa: F401 - the bentoml serve fixture
from tests.serving.test_ui import drift_reports

pytestmark = pytest.mark.slow
BEFORE_THE_STORE = "2019-06-01"  # the stack's games start with 2020-21

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".cache" / "test-artifacts"
MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found:
        return found
    reason = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install it (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def api(server):  # noqa: F811 - the imported fixture
    """The API over HTTP with the same user's token: the answers the page must show."""
    with httpx.Client(base_url=server, timeout=30) as http:
        token = http.post(
            "/api/auth/login", json={"username": USER, "password": USER_PASSWORD}
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


@pytest.fixture(scope="module")
def drift_rows(stack):
    """Drift reports the page must list: a points model's, then a game model's of the same kind
    a day later (a game-only check); each is its model's newest of that kind."""
    now = datetime.now(UTC)
    row = {"kind": "ui-browser", "drift_detected": True, "failed_tests": 2}
    # a predictions report: the distance that decides, not a share
    shift = {"distance": 0.27, "threshold": 0.3, "crossed": False}
    points = {
        **row,
        "created_at": now - timedelta(days=1),
        "model_name": "player-ridge",
        "share_drifted": None,
        "drift_detected": False,
        "summary": {"prediction_shift": shift},
    }
    game = {**row, "created_at": now, "model_name": "game-logistic", "share_drifted": 0.375}
    with drift_reports(stack.database_url, points, game) as ids:
        yield ids


class Watch:
    """Every request the page makes and every console error or page error it raises."""

    def __init__(self, page, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )

    def foreign(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.origin + "/")]

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


def _percent(p: float) -> str:
    return f"{p * 100:.1f}%"


def _log_in(page, password: str = USER_PASSWORD) -> None:
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _predict_game(page, home: str, away: str) -> None:
    page.get_by_label("Home team").fill(home)
    page.get_by_label("Away team").fill(away)
    page.locator("#game-date").fill(GAME_DAY)
    page.get_by_role("button", name="Predict game").click()


def _value(page, selector: str) -> float:
    return float(page.locator(selector).get_attribute("data-value"))


def test_a_person_uses_the_page(server, browser, api, drift_rows):  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    page = context.new_page()
    watch = Watch(page, server)
    page.goto(f"{server}/ui/")
    expect(page.locator("#service-status")).to_contain_text("Service ready")

    # A wrong password is refused on the page; the right one opens it.
    _log_in(page, "not-the-password")
    expect(page.locator("#login-error")).to_contain_text("Wrong user name or password")
    expect(page.locator("#app-view")).to_be_hidden()
    _log_in(page)
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#session-user")).to_have_text(USER)
    expect(page.locator("#login-error")).to_be_hidden()

    # A game: the champion's probability and the three models, as the API answers them.
    _predict_game(page, "BOS", "LAL")
    expect(page.locator("#game-result")).to_be_visible()
    simple = api.post("/api/predict/simple", json=MATCHUP).json()
    compare = api.post("/api/predict/compare", json=MATCHUP).json()
    assert _value(page, "#game-probability") == simple["home_win_probability"]
    expect(page.locator("#game-probability")).to_have_text(_percent(simple["home_win_probability"]))
    expect(page.locator("#game-detail")).to_contain_text(
        f"{simple['model']['name']} v{simple['model']['version']}"
    )
    expect(page.locator("#game-warning")).to_be_hidden()  # GAME_DAY follows stored games
    assert len(compare["predictions"]) == 3
    for p in compare["predictions"]:
        row = page.locator(f'#compare-table tr[data-model="{p["model"]["name"]}"]')
        assert (
            float(row.locator("td.num").get_attribute("data-value")) == (p["home_win_probability"])
        )
        expect(row).to_contain_text(f"v{p['model']['version']}")
        bar, track = (
            float(
                page.locator(
                    f'#compare-chart rect.{c}[data-model="{p["model"]["name"]}"]'
                ).get_attribute("width")
            )
            for c in ("bar", "track")
        )
        assert bar / track == pytest.approx(p["home_win_probability"], abs=1e-6)

    # A player found by name, against an opponent at home.
    page.get_by_label("Player name").fill("player 1273")
    page.get_by_role("button", name="Search").click()
    select = page.get_by_label("Player", exact=True)
    expect(select).to_be_enabled()
    player_id = int(select.locator("option").nth(1).get_attribute("value"))
    select.select_option(str(player_id))
    page.get_by_label("Opponent").fill("LAL")
    page.get_by_label("at home").check()
    page.locator("#player-date").fill(GAME_DAY)
    page.get_by_role("button", name="Predict points").click()
    expect(page.locator("#player-result")).to_be_visible()
    player = api.post(
        "/api/predict/player",
        json={"player": player_id, "opponent": "LAL", "home": True, "game_date": GAME_DAY},
    ).json()
    assert _value(page, "#player-points") == player["predicted_points"]
    assert _value(page, "#player-low") == player["interval"]["low"]
    assert _value(page, "#player-high") == player["interval"]["high"]
    expect(page.locator("#player-points")).to_have_text(f"{player['predicted_points']:.1f}")
    expect(page.locator("#player-name")).to_contain_text(player["player_name"])
    expect(page.locator("#player-warning")).to_be_hidden()

    # A date before his first stored game: the service asks for his team, which the optional
    # field gives; the answer then carries the API's warning.
    page.locator("#player-date").fill(BEFORE_THE_STORE)
    page.get_by_role("button", name="Predict points").click()
    expect(page.locator("#player-error")).to_contain_text("give his team")
    expect(page.locator("#player-result")).to_be_hidden()
    page.get_by_label("Player's team (optional)").fill(player["team"].lower())
    page.get_by_role("button", name="Predict points").click()
    expect(page.locator("#player-result")).to_be_visible()
    early = api.post(
        "/api/predict/player",
        json={
            "player": player_id,
            "team": player["team"],
            "opponent": "LAL",
            "home": True,
            "game_date": BEFORE_THE_STORE,
        },
    ).json()
    assert _value(page, "#player-points") == early["predicted_points"]
    expect(page.locator("#player-warning")).to_have_text(f"Note: {' '.join(early['warnings'])}.")
    expect(page.locator("#player-error")).to_be_hidden()
    page.get_by_label("Player's team (optional)").fill("")

    # Today (an empty date) is years after the league's stored games: the API's warning shows.
    page.locator("#game-date").fill("")
    page.get_by_role("button", name="Predict game").click()
    today = api.post("/api/predict/simple", json={"home_team": "BOS", "away_team": "LAL"}).json()
    (warning,) = today["warnings"]
    expect(page.locator("#game-warning")).to_have_text(f"Note: {warning}.")
    expect(page.locator("#game-detail")).to_contain_text(f"on {today['game_date']}")

    # The registered models with their champions and metrics; the latest drift reports.
    models = api.get("/api/models").json()["models"]
    assert models
    for m in models:
        row = page.locator(f'#models-table tr[data-model="{m["name"]}"]')
        expect(row.locator(".champion")).to_have_text(f"v{m['champion']}")
        champion = next(v for v in m["versions"] if v["version"] == m["champion"])
        for key, value in champion["metrics"].items():
            shown = row.locator(f'li[data-metric="{key}"]').get_attribute("data-value")
            assert float(shown) == value, (m["name"], key)
    drift = page.locator('#drift-list li[data-kind="ui-browser"]')
    expect(drift).to_have_count(2)  # both models' newest, by model name
    expect(drift.nth(0)).to_have_attribute("data-model", "game-logistic")
    expect(drift.nth(0)).to_contain_text("drifted share 37.5%")
    expect(drift.nth(0)).to_contain_text("Drift detected")
    expect(drift.nth(1)).to_have_attribute("data-model", "player-ridge")
    expect(drift.nth(1)).to_contain_text("ui-browser: player-ridge v1")
    expect(drift.nth(1)).to_contain_text("distance between the predictions 0.270 (threshold 0.3)")
    expect(drift.nth(1)).to_contain_text("No drift")
    page.screenshot(path=str(ARTIFACTS / "ui-desktop.png"), full_page=True)

    # An unknown team: the service's message on the page.
    _predict_game(page, "XYZ", "LAL")
    expect(page.locator("#game-error")).to_contain_text("unknown team 'XYZ'")
    expect(page.locator("#game-result")).to_be_hidden()

    # The service down (every /api request fails to connect).
    page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    _predict_game(page, "BOS", "LAL")
    expect(page.locator("#game-error")).to_contain_text("The service cannot be reached")
    expect(page.locator("#service-status")).to_have_text("Service unreachable")
    page.unroute("**/api/**")
    page.screenshot(path=str(ARTIFACTS / "ui-errors.png"), full_page=True)

    # Log out: back to the form, the token gone from the tab.
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-view")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0

    # An expired token (signed by the service's key): back to the login with a message.
    expired, _ = TokenIssuer(JWT_SECRET, 60).issue(
        USER, "user", now=datetime.now(UTC) - timedelta(hours=3)
    )
    page.evaluate(
        """([token, user]) => {
            sessionStorage.setItem("nba-mlops.token", token);
            sessionStorage.setItem("nba-mlops.user", user);
            sessionStorage.setItem("nba-mlops.expires", String(Date.now() + 3600000));
        }""",
        [expired, USER],
    )
    page.reload()
    expect(page.locator("#login-error")).to_contain_text("Your session has expired")
    expect(page.locator("#app-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0

    assert watch.foreign() == []
    assert watch.csp_violations() == []
    context.close()


def test_the_page_fits_a_phone_and_works_from_the_keyboard(server, browser):  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    watch = Watch(page, server)
    page.goto(f"{server}/ui/")

    # Log in with the keyboard only: type, Tab to the next field, Enter to submit.
    page.get_by_label("User name").focus()
    page.keyboard.type(USER)
    page.keyboard.press("Tab")
    page.keyboard.type(USER_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#models-table tbody tr").first).to_be_visible()

    _predict_game(page, "NYK", "GSW")
    expect(page.locator("#game-result")).to_be_visible()
    expect(page.locator("#compare-chart svg")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    for section in ("#game", "#player", "#models", "#drift", "#models-table", "#compare-chart"):
        box = page.locator(section).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, section
    page.screenshot(path=str(ARTIFACTS / "ui-phone.png"), full_page=True)
    assert watch.foreign() == []
    assert watch.csp_violations() == []
    context.close()
