"""The `[transactions]` table (docs/reference.md §3, §10): defaults and every bad value's exact
one-line error."""

from __future__ import annotations

import pytest

from dbmesh.config import TransactionsConfig, parse_config
from dbmesh.errors import ConfigError

DATABASES = """
[[databases]]
name = "cache"
engine = "sqlite"
path = "cache.db"

[[databases]]
name = "replica"
engine = "postgresql"
host = "h"
database = "d"
read_only = true

[[databases]]
name = "primary"
engine = "postgresql"
host = "h"
database = "d"

[[databases]]
name = "archive"
engine = "mysql"
host = "h"
database = "d"
"""


def test_defaults_take_the_first_writable_postgresql_database() -> None:
    assert parse_config(DATABASES).transactions == TransactionsConfig(
        log_database="primary", recovery_interval_secs=10.0, lease_secs=30.0, history_secs=86400.0
    )


def test_no_postgresql_database_means_no_default_log() -> None:
    config = parse_config('[[databases]]\nname = "cache"\nengine = "sqlite"\npath = "c.db"\n')
    assert config.transactions.log_database is None


def test_every_key_can_be_set() -> None:
    text = DATABASES + '[transactions]\nlog_database = "archive"\nrecovery_interval_secs = "2.5"\n'
    text += "lease_secs = 8\nhistory_secs = 60\n"
    assert parse_config(text).transactions == TransactionsConfig("archive", 2.5, 8.0, 60.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'log_database = "nope"',
            "<config>: transactions.log_database: unknown database 'nope' (known: cache, replica, primary, archive)",
        ),
        (
            'log_database = "replica"',
            "<config>: transactions.log_database: database 'replica' is read_only; the log is written",
        ),
        ("log_database = 3", "<config>: transactions.log_database: expected a string, got an integer (3)"),
        (
            "recovery_interval_secs = 0",
            "<config>: transactions.recovery_interval_secs: must be a number greater than 0, got 0",
        ),
        (
            "recovery_interval_secs = 10\nlease_secs = 10",
            "<config>: transactions.lease_secs: must be greater than recovery_interval_secs (10), got 10"
            " (a router renews its lease at every recovery)",
        ),
        ('history_secs = "soon"', "<config>: transactions.history_secs: expected a number, got a string ('soon')"),
        ("lease = 5", "<config>: transactions: unknown key 'lease' (did you mean 'lease_secs'?)"),
    ],
)
def test_bad_values_are_one_line_errors(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(DATABASES + "[transactions]\n" + table + "\n")
    assert str(refused.value) == message


def test_the_guides_spelling_is_accepted() -> None:
    text = (
        DATABASES.replace("[[databases]]", "[[FraiseQL.databases]]")
        + '[FraiseQL.transactions]\nlog_database = "archive"\n'
    )
    assert parse_config(text).transactions.log_database == "archive"
