"""The web page at /ui in-process: page and assets served without a token and with the CSP,
nothing from another origin, and the routes it needs (teams, players, drift report files)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from serving.middleware import endpoint_label
from serving.routes import match_players
from serving.state import PlayerHistory
from serving.ui import ASSETS, CONTENT_SECURITY_POLICY, asset_path, report_file
from tests.builders import TEAMS
from tests.serving.conftest import drift_reports, runtime_of

# An XML namespace name, never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg"}


def _referenced_assets(html: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="(/ui/[^"]+)"', html))


def test_the_page_and_its_assets_are_served_without_a_token(service):
    page = service.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = _referenced_assets(page.text)
    assert {"/ui/app.js", "/ui/style.css", "/ui/favicon.svg"} <= assets
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in sorted(assets):
        answer = service.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].startswith(types[Path(url).suffix]), url
        assert answer.content == (ASSETS / Path(url).name).read_bytes()
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_ui_without_a_slash_goes_to_the_page(service):
    answer = service.get("/ui", follow_redirects=False)
    assert answer.status_code in (301, 307, 308)
    assert answer.headers["location"].endswith("/ui/")


def test_the_csp_allows_this_origin_only(service):
    policy = service.get("/ui/").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "img-src", "connect-src"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy and "*" not in policy and "http" not in policy


def test_no_asset_names_another_origin():
    files = sorted(p for p in ASSETS.iterdir() if p.is_file())
    assert {p.name for p in files} >= {"index.html", "app.js", "style.css"}
    for path in files:
        text = path.read_text()
        urls = set(re.findall(r"[a-z][a-z0-9+.\-]*://[^\s\"'<>)]+", text, re.IGNORECASE))
        assert urls <= NAMESPACES, (path.name, urls - NAMESPACES)
        # protocol-relative addresses and CSS imports of any kind
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']//""", text), path.name
        assert not re.search(r"""url\(\s*["']?//""", text), path.name
        assert "@import" not in text, path.name


def test_the_javascript_calls_only_this_services_api():
    script = (ASSETS / "app.js").read_text()
    calls = re.findall(r"""(?:api|send)\(\s*[`"']([^`"']+)""", script)
    assert calls, "no API call found"
    assert all(c.startswith("/api/") for c in calls), calls
    assert "innerHTML" not in script and "eval(" not in script


@pytest.mark.parametrize(
    "url", ["/ui/../serving/ui.py", "/ui/%2e%2e/serving/ui.py", "/ui/ui.py", "/ui/missing.js"]
)
def test_only_the_folders_assets_are_served(service, url):
    answer = service.get(url)
    assert answer.status_code == 404
    assert "import" not in answer.text


def test_unknown_asset_answers_carry_the_csp(service):
    answer = service.get("/ui/missing.js")
    assert answer.status_code == 404
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("app.js", True),
        ("index.html", True),
        ("../ui.py", False),
        ("sub/app.js", False),
        (".app.js", False),
        ("APP.JS", False),
        ("routes.py", False),
        ("missing.css", False),
    ],
)
def test_asset_path_takes_plain_names_of_the_folder(name, found):
    assert (asset_path(name) is not None) is found


def test_report_file_stays_inside_the_reports_folder(tmp_path):
    reports = tmp_path / "reports"
    (reports / "2024-01-02_abc").mkdir(parents=True)
    inside = reports / "2024-01-02_abc" / "features.html"
    inside.write_text("<html></html>")
    outside = tmp_path / "secret.html"
    outside.write_text("secret")
    (reports / "link.html").symlink_to(outside)
    assert report_file(reports, str(inside)) == inside.resolve()
    assert report_file(reports, "2024-01-02_abc/features.html") == inside.resolve()
    assert report_file(reports, str(outside)) is None
    assert report_file(reports, "../secret.html") is None
    assert (
        report_file(reports, str(reports / "2024-01-02_abc" / ".." / ".." / "secret.html")) is None
    )
    assert report_file(reports, str(reports / "link.html")) is None
    assert report_file(reports, str(reports / "2024-01-02_abc")) is None
    assert report_file(reports, str(reports / "missing.html")) is None


# The routes the page needs -------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/teams", "/api/players?search=Player", "/api/drift/1/html"])
def test_the_new_routes_need_a_token(service, path):
    answer = service.get(path)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_teams_lists_the_stores_teams(service, user_headers):
    body = service.get("/api/teams", headers=user_headers).json()
    assert body["count"] == len(body["teams"]) == len(TEAMS)
    assert [(t["team_id"], t["abbreviation"], t["name"]) for t in body["teams"]] == sorted(
        TEAMS, key=lambda t: t[1]
    )


def test_players_are_found_by_part_of_the_name(service, user_headers, stack):
    games = stack.frames.player_games
    boston = games.loc[games["team_id"] == TEAMS[0][0], ["player_id", "player_name"]]
    expected = set(boston.drop_duplicates()["player_id"])
    pid = sorted(expected)[0]
    body = service.get(
        "/api/players", params={"search": str(pid)[:5].upper()}, headers=user_headers
    ).json()
    assert {p["player_id"] for p in body["players"]} == expected
    one = next(p for p in body["players"] if p["player_id"] == pid)
    last = pd.Timestamp(games.loc[games["player_id"] == pid, "game_date"].max()).date()
    assert one == {
        "player_id": pid,
        "name": f"Player {pid}",
        "team": "BOS",
        "last_game_date": last.isoformat(),
    }
    everyone = service.get("/api/players", params={"limit": 5}, headers=user_headers).json()
    assert everyone["count"] == 5
    assert everyone["matches"] == games["player_id"].nunique()
    nobody = service.get("/api/players", params={"search": "zzz"}, headers=user_headers).json()
    assert nobody == {"players": [], "count": 0, "matches": 0}


@pytest.mark.parametrize("params", [{"search": "a\x00b"}, {"limit": 0}, {"search": "x" * 65}])
def test_players_refuses_bad_queries(service, user_headers, params):
    answer = service.get("/api/players", params=params, headers=user_headers)
    assert answer.status_code == 400
    assert "error" in answer.json()


def test_teams_and_players_say_when_the_store_is_not_loaded(service, user_headers, monkeypatch):
    monkeypatch.setattr(runtime_of(service), "data", None)
    for path in ("/api/teams", "/api/players"):
        answer = service.get(path, headers=user_headers)
        assert answer.status_code == 503
        assert "not loaded" in answer.json()["error"]


def _history(pid: int, name: str, day: str) -> PlayerHistory:
    return PlayerHistory(pid, name, 1, pd.Timestamp(day))


def test_match_players_puts_names_starting_with_the_text_first_then_the_recent():
    players = [
        _history(1, "Anthony Davis", "2024-01-01"),
        _history(2, "Davis Bertans", "2023-01-01"),
        _history(3, "Ed Davis", "2024-02-01"),
        _history(4, "Davion Mitchell", "2024-03-01"),
        _history(5, "LeBron James", "2024-03-01"),
    ]
    assert [p.player_id for p in match_players(players, " DAVI ")] == [4, 2, 3, 1]
    assert [p.player_id for p in match_players(players, "")] == [4, 5, 3, 1, 2]
    assert match_players(players, "curry") == []


def test_a_name_is_found_with_or_without_its_accents():
    from serving.store import name_key

    players = [
        _history(1, "Luka Dončić", "2024-01-01"),
        _history(2, "Kristaps Porziņģis", "2024-01-01"),
        _history(3, "Nikola Jokić", "2024-01-01"),
    ]
    assert [p.player_id for p in match_players(players, "doncic")] == [1]
    assert [p.player_id for p in match_players(players, "DONČ")] == [1]
    assert [p.player_id for p in match_players(players, "porzingis")] == [2]
    assert [p.player_id for p in match_players(players, "ic")] == [1, 3]  # same day: by id
    # Requests name a player the same way (serving/predict.py looks names up by this key).
    assert name_key(" Luka DONČIĆ ") == name_key("luka doncic") == "luka doncic"
    assert name_key("Đorđe Łoś Øst") == "dorde los ost"
    assert name_key("luka  doncic") == "luka doncic"  # spaces between words count once
    # look-alikes are not folded into the letters they imitate: refused, not matched
    assert name_key("Ｌｕｋａ Ｄｏｎčić") != "luka doncic"
    assert match_players(players, "ＤＯＮ") == []


# Drift report files ---------------------------------------------------------------------------
@pytest.fixture
def report_rows(service, stack, tmp_path):
    """Four rows: one whose HTML is in the service's reports folder (stored relative to it, as
    the drift check writes it), one outside it, one without HTML, and the first file again by
    its absolute path (as rows were once written)."""
    reports = runtime_of(service).settings.reports_dir
    inside = reports / "2024-01-02_ui" / "features-game-logistic-v1.html"
    inside.parent.mkdir(parents=True, exist_ok=True)
    inside.write_text("<html><body><script>document.title='drift'</script></body></html>")
    outside = tmp_path / "outside.html"
    outside.write_text("<html>outside</html>")
    paths = (
        {"html_path": inside.relative_to(reports).as_posix()},
        {"html_path": str(outside)},
        {},
        {"html_path": str(inside)},
    )
    with drift_reports(stack.database_url, *paths) as ids:
        yield ids, inside


def test_a_drift_reports_html_is_sent_from_the_reports_folder_only(
    service, user_headers, report_rows
):
    (inside_id, outside_id, no_html_id, absolute_id), inside = report_rows
    assert service.get(f"/api/drift/{absolute_id}/html", headers=user_headers).status_code == 200
    answer = service.get(f"/api/drift/{inside_id}/html", headers=user_headers)
    assert answer.status_code == 200
    assert answer.content == inside.read_bytes()
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-disposition"].startswith("attachment")
    assert inside.name in answer.headers["content-disposition"]
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts;") and "default-src 'none'" in policy
    assert "allow-same-origin" not in policy
    for report_id in (outside_id, no_html_id):
        refused = service.get(f"/api/drift/{report_id}/html", headers=user_headers)
        assert refused.status_code == 404, report_id
        assert refused.json()["error"] == f"drift report {report_id} has no HTML file"
    unknown = service.get(f"/api/drift/{2**31 - 1}/html", headers=user_headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith(f"no drift report has the id {2**31 - 1}")
    assert service.get("/api/drift/0/html", headers=user_headers).status_code == 400
    # The listing names the file relative to the reports folder, not by its server path.
    shown = {
        r["id"]: r["html_path"]
        for r in service.get("/api/drift", headers=user_headers).json()["reports"]
    }
    assert shown[inside_id] == shown[absolute_id] == "2024-01-02_ui/features-game-logistic-v1.html"


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/api/teams", "/api/teams"),
        ("/api/players", "/api/players"),
        ("/api/drift/7/html", "/api/drift"),
        ("/api/drift/latest", "/api/drift/latest"),
        ("/api/models/game-tree/2", "/api/models"),
        ("/api/driftx", "other"),
        ("/ui/app.js", "other"),
    ],
)
def test_metric_labels_of_the_new_routes(path, label):
    assert endpoint_label(path) == label
