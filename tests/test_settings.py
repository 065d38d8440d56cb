"""The settings object read from the environment: the file-storage variables and their checks."""

from __future__ import annotations

import pytest

from openplum.settings import from_env


def test_file_settings_default_to_the_data_directory_and_a_generated_secret() -> None:
    settings = from_env({})

    assert settings.s3_bucket is None
    assert settings.public_url is None
    assert settings.secret_key is None


def test_file_settings_are_read_from_the_environment() -> None:
    settings = from_env({
        "OPENPLUM_S3_BUCKET": "assets", "OPENPLUM_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "OPENPLUM_S3_REGION": "eu-west-1", "OPENPLUM_PUBLIC_URL": "https://lp.example.com/",
        "OPENPLUM_SECRET_KEY": "k" * 40,
    })

    assert (settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region) == (
        "assets", "http://127.0.0.1:9000", "eu-west-1")
    assert settings.public_url == "https://lp.example.com"
    assert settings.secret_key == "k" * 40
    assert "k" * 40 not in repr(settings)


@pytest.mark.parametrize("name", ["OPENPLUM_PUBLIC_URL", "OPENPLUM_S3_ENDPOINT_URL"])
def test_urls_must_be_absolute(name: str) -> None:
    with pytest.raises(SystemExit, match=name):
        from_env({name: "lp.example.com"})


def test_the_event_loop_is_the_standard_librarys_unless_uvloop_is_asked_for() -> None:
    assert from_env({}).event_loop == "asyncio"
    assert from_env({"OPENPLUM_EVENT_LOOP": "UVLOOP"}).event_loop == "uvloop"
    with pytest.raises(SystemExit, match="OPENPLUM_EVENT_LOOP"):
        from_env({"OPENPLUM_EVENT_LOOP": "trio"})


def test_postgres_connections_per_process_default_to_two_writers_and_four_readers() -> None:
    assert (from_env({}).postgres_writers, from_env({}).postgres_readers) == (2, 4)
    custom = from_env({"OPENPLUM_POSTGRES_WRITERS": "4", "OPENPLUM_POSTGRES_READERS": "2"})
    assert (custom.postgres_writers, custom.postgres_readers) == (4, 2)
    with pytest.raises(SystemExit, match="OPENPLUM_POSTGRES_READERS"):
        from_env({"OPENPLUM_POSTGRES_READERS": "0"})


def test_sqlite_writes_are_rehearsed_while_the_file_is_shared_unless_told_otherwise() -> None:
    assert from_env({}).sqlite_rehearse == "auto"
    assert from_env({"OPENPLUM_SQLITE_REHEARSE": "Never"}).sqlite_rehearse == "never"
    with pytest.raises(SystemExit, match="OPENPLUM_SQLITE_REHEARSE"):
        from_env({"OPENPLUM_SQLITE_REHEARSE": "sometimes"})
