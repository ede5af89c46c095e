"""The feature catalogue: documented, rendered into docs/features.md, cheap to import."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from features import FEATURE_DOCS, GAME_FEATURES, PLAYER_FEATURES
from features.docs import render_feature_table

REPO = Path(__file__).resolve().parents[2]


def test_docs_file_equals_the_rendered_table():
    text = (REPO / "docs" / "features.md").read_text(encoding="utf-8")
    assert text == render_feature_table(), "regenerate: python -m features.docs > docs/features.md"


@pytest.mark.parametrize("names", [GAME_FEATURES, PLAYER_FEATURES], ids=["game", "player"])
def test_every_feature_is_documented_once(names):
    counts = Counter(name for name, _, _ in FEATURE_DOCS)
    assert len(set(names)) == len(names)
    for name in names:
        assert counts[name] == 1, name


def test_doc_rows_are_complete():
    for name, definition, window in FEATURE_DOCS:
        assert name and len(definition) > 10 and window, name
    rendered = render_feature_table()
    assert rendered.count("\n| `") == len(FEATURE_DOCS)


def test_contract_sizes():
    assert len(GAME_FEATURES) >= 18
    assert {"elo_home_prob", "home_win_pct", "away_win_pct", "diff_margin_avg_10"} <= set(
        GAME_FEATURES
    )
    assert not {"pts_avg_season", "pts_avg_10", "min_avg_season"} & set(PLAYER_FEATURES)


def test_importing_features_is_cheap_and_builders_use_no_io_library():
    code = (
        "import sys, features\n"
        "assert 'pandas' not in sys.modules, 'import features loaded pandas'\n"
        "import features.game, features.player, features.docs\n"
        "bad = {'sqlalchemy', 'requests', 'mlflow', 'prefect', 'bentoml', 'redis', 'psycopg2',\n"
        "       'nba_api', 'urllib3', 'sqlite3'} & set(sys.modules)\n"
        "assert not bad, bad\n"
        "features.build_game_features, features.build_player_features\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
