"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from parlour.settings import Settings, SettingsError


def test_settings_are_read_from_parlour_variables() -> None:
    settings = Settings.from_env(
        {"PARLOUR_PORT": "9001", "PARLOUR_EDIT_WINDOW": "60", "PARLOUR_TRUST_PROXY": "yes"}
    )
    assert (settings.port, settings.edit_window, settings.trust_proxy) == (9001, 60, True)


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    assert Settings.from_env({"PARLOUR_SECRET_FILE": str(tmp_path / "secret")}).secret == "s3cret"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PARLOUR_PORT": "eighty"}, "PARLOUR_PORT"),
        ({"PARLOUR_BODY_MAX": "0"}, "PARLOUR_BODY_MAX"),
        ({"PARLOUR_WORKER_REQUESTS": "0"}, "PARLOUR_WORKER_REQUESTS"),
        ({"PARLOUR_DATABASE": "mysql://x"}, "PARLOUR_DATABASE"),
        ({"PARLOUR_TRUST_PROXY": "maybe"}, "PARLOUR_TRUST_PROXY"),
        ({"PARLOUR_PAGE_SIZE": "900"}, "PARLOUR_PAGE_SIZE"),
        ({"PARLOUR_SECRET_FILE": "/no/such/file"}, "PARLOUR_SECRET_FILE"),
        ({"PARLOUR_THREAD_KEY_MAX": "1000"}, "PARLOUR_THREAD_KEY_MAX"),
        ({"PARLOUR_DATABASE": "sqlite:///:memory:"}, "PARLOUR_DATABASE"),
        ({"PARLOUR_CPU_SCHEDULING": "fifo"}, "PARLOUR_CPU_SCHEDULING"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_settings_survive_the_trip_to_worker_processes() -> None:
    settings = Settings.from_env({"PARLOUR_WORKERS": "3", "PARLOUR_TRUST_PROXY": "1"})
    assert Settings.from_env(settings.to_env()) == settings
