"""initial schema: teams, players, games, box scores, schedule, ingest runs, model metadata

Revision ID: 0001
Revises:
Create Date: 2026-11-24 17:58:46.686207
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "games",
        sa.Column("game_id", sa.String(length=10), nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("season_type", sa.String(length=16), nullable=False),
        sa.Column("game_date", sa.Date(), nullable=False),
        sa.Column("home_team_id", sa.BigInteger(), nullable=False),
        sa.Column("away_team_id", sa.BigInteger(), nullable=False),
        sa.Column("home_pts", sa.Integer(), nullable=False),
        sa.Column("away_pts", sa.Integer(), nullable=False),
        sa.Column("neutral_site", sa.Boolean(), nullable=False),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("game_id"),
    )
    with op.batch_alter_table("games", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_games_game_date"), ["game_date"], unique=False)
        batch_op.create_index("ix_games_season", ["season", "season_type"], unique=False)

    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("seasons", sa.Text(), nullable=False),
        sa.Column("season_type", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("input_hash", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "model_metadata",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("alias", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_metadata_model_name"), ["model_name"], unique=False
        )

    op.create_table(
        "player_games",
        sa.Column("game_id", sa.String(length=10), nullable=False),
        sa.Column("player_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("player_name", sa.String(length=128), nullable=False),
        sa.Column("team_id", sa.BigInteger(), nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("season_type", sa.String(length=16), nullable=False),
        sa.Column("game_date", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("fgm", sa.Integer(), nullable=False),
        sa.Column("fga", sa.Integer(), nullable=False),
        sa.Column("fg3m", sa.Integer(), nullable=False),
        sa.Column("fg3a", sa.Integer(), nullable=False),
        sa.Column("ftm", sa.Integer(), nullable=False),
        sa.Column("fta", sa.Integer(), nullable=False),
        sa.Column("oreb", sa.Integer(), nullable=False),
        sa.Column("dreb", sa.Integer(), nullable=False),
        sa.Column("reb", sa.Integer(), nullable=False),
        sa.Column("ast", sa.Integer(), nullable=False),
        sa.Column("stl", sa.Integer(), nullable=False),
        sa.Column("blk", sa.Integer(), nullable=False),
        sa.Column("tov", sa.Integer(), nullable=False),
        sa.Column("pf", sa.Integer(), nullable=False),
        sa.Column("pts", sa.Integer(), nullable=False),
        sa.Column("plus_minus", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("game_id", "player_id"),
    )
    with op.batch_alter_table("player_games", schema=None) as batch_op:
        batch_op.create_index("ix_player_games_player", ["player_id", "game_date"], unique=False)
        batch_op.create_index("ix_player_games_season", ["season", "season_type"], unique=False)

    op.create_table(
        "players",
        sa.Column("player_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("full_name", sa.String(length=128), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("player_id"),
    )
    with op.batch_alter_table("players", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_players_full_name"), ["full_name"], unique=False)

    op.create_table(
        "scheduled_games",
        sa.Column("game_id", sa.String(length=10), nullable=False),
        sa.Column("game_date", sa.Date(), nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("home_team_id", sa.BigInteger(), nullable=False),
        sa.Column("away_team_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("game_id"),
    )
    with op.batch_alter_table("scheduled_games", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scheduled_games_game_date"), ["game_date"], unique=False
        )

    op.create_table(
        "team_games",
        sa.Column("game_id", sa.String(length=10), nullable=False),
        sa.Column("team_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("season_type", sa.String(length=16), nullable=False),
        sa.Column("game_date", sa.Date(), nullable=False),
        sa.Column("team_abbreviation", sa.String(length=8), nullable=False),
        sa.Column("matchup", sa.String(length=16), nullable=False),
        sa.Column("is_home", sa.Boolean(), nullable=False),
        sa.Column("neutral_site", sa.Boolean(), nullable=False),
        sa.Column("wl", sa.String(length=1), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("fgm", sa.Integer(), nullable=False),
        sa.Column("fga", sa.Integer(), nullable=False),
        sa.Column("fg3m", sa.Integer(), nullable=False),
        sa.Column("fg3a", sa.Integer(), nullable=False),
        sa.Column("ftm", sa.Integer(), nullable=False),
        sa.Column("fta", sa.Integer(), nullable=False),
        sa.Column("oreb", sa.Integer(), nullable=False),
        sa.Column("dreb", sa.Integer(), nullable=False),
        sa.Column("reb", sa.Integer(), nullable=False),
        sa.Column("ast", sa.Integer(), nullable=False),
        sa.Column("stl", sa.Integer(), nullable=False),
        sa.Column("blk", sa.Integer(), nullable=False),
        sa.Column("tov", sa.Integer(), nullable=False),
        sa.Column("pf", sa.Integer(), nullable=False),
        sa.Column("pts", sa.Integer(), nullable=False),
        sa.Column("plus_minus", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("game_id", "team_id"),
    )
    with op.batch_alter_table("team_games", schema=None) as batch_op:
        batch_op.create_index("ix_team_games_season", ["season", "season_type"], unique=False)

    op.create_table(
        "teams",
        sa.Column("team_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("abbreviation", sa.String(length=8), nullable=False),
        sa.Column("full_name", sa.String(length=64), nullable=False),
        sa.Column("city", sa.String(length=64), nullable=True),
        sa.Column("nickname", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("team_id"),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_abbreviation"), ["abbreviation"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_abbreviation"))

    op.drop_table("teams")
    with op.batch_alter_table("team_games", schema=None) as batch_op:
        batch_op.drop_index("ix_team_games_season")

    op.drop_table("team_games")
    with op.batch_alter_table("scheduled_games", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_games_game_date"))

    op.drop_table("scheduled_games")
    with op.batch_alter_table("players", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_players_full_name"))

    op.drop_table("players")
    with op.batch_alter_table("player_games", schema=None) as batch_op:
        batch_op.drop_index("ix_player_games_season")
        batch_op.drop_index("ix_player_games_player")

    op.drop_table("player_games")
    with op.batch_alter_table("model_metadata", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_metadata_model_name"))

    op.drop_table("model_metadata")
    op.drop_table("ingest_runs")
    with op.batch_alter_table("games", schema=None) as batch_op:
        batch_op.drop_index("ix_games_season")
        batch_op.drop_index(batch_op.f("ix_games_game_date"))

    op.drop_table("games")
