"""The connect flow over real HTTP: the app under gunicorn, MusicAPI played by the simulator."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.support.musicapi import encode_data64
from tests.support.user import User


def flow_cookie_cleared(response) -> bool:  # type: ignore[no-untyped-def]
    return any(
        header.startswith("flow=;") and "Max-Age=0" in header for header in response.raw.headers.getlist("Set-Cookie")
    )


def test_a_person_connects_spotify_and_lands_on_the_start_page(user: User) -> None:
    response = user.connect("spotify")

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert flow_cookie_cleared(response)
    [account] = user.accounts()
    assert account["service"] == "spotify"
    assert set(account) >= {
        "service",
        "integrationUserUUID",
        "name",
        "email",
        "imageUrl",
        "country",
        "authData",
        "expiresAt",
    }
    assert account["authData"]["accessToken"].startswith("BQ")


def test_the_login_url_asks_for_a_one_time_token_and_failures(user: User) -> None:
    response = user.start_login("tidal")

    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.path.endswith("/auth/test-slug/tidal/auth")
    assert query["requestOneTimeToken"] == ["true"]
    assert query["forwardFailures"] == ["true"]
    return_url = urlsplit(query["returnUrl"][0])
    assert f"{return_url.scheme}://{return_url.netloc}" == user.app_url
    assert return_url.path == "/callback"
    assert len(parse_qs(return_url.query)["state"][0]) >= 32


def standard(document: dict) -> str:  # type: ignore[type-arg]
    return encode_data64(document)


def unpadded(document: dict) -> str:  # type: ignore[type-arg]
    return encode_data64(document, padding=False)


def urlsafe(document: dict) -> str:  # type: ignore[type-arg]
    return encode_data64(document, urlsafe=True)


def urlsafe_unpadded(document: dict) -> str:  # type: ignore[type-arg]
    return encode_data64(document, urlsafe=True, padding=False)


@pytest.mark.parametrize("encode", [standard, unpadded, urlsafe, urlsafe_unpadded])
def test_every_data64_alphabet_and_padding_is_accepted(user: User, encode) -> None:  # type: ignore[no-untyped-def]
    login = user.start_login("deezer")
    document = user.simulator.issue_login("deezer")
    # Grow the name field until the encoding needs '+' or '/' (or '-' and '_'), so the alphabet matters.
    document["integration"]["padding"] = "~~~???>>>"
    response = user.come_back(user.callback_url(login, encode(document)))

    assert response.status_code == 303, response.text
    assert user.connected_services() == ["deezer"]


def test_plus_signs_turned_into_spaces_by_query_parsing_are_accepted(user: User) -> None:
    login = user.start_login("deezer")
    document = user.simulator.issue_login("deezer")
    document["integration"]["padding"] = "~~~>>>???"
    data64 = encode_data64(document)
    assert "+" in data64
    # MusicAPI appends data64 unencoded: the '+' arrive and are read as spaces.
    response = user.come_back(user.return_url(login) + "&data64=" + data64)

    assert response.status_code == 303, response.text
    assert user.connected_services() == ["deezer"]


def test_doubly_percent_encoded_data64_is_accepted(user: User) -> None:
    login = user.start_login("spotify")
    data64 = quote(encode_data64(user.simulator.issue_login("spotify")), safe="")
    response = user.come_back(user.callback_url(login, data64))

    assert response.status_code == 303, response.text


def test_unknown_extra_fields_are_ignored(user: User) -> None:
    login = user.start_login("spotify")
    document = user.simulator.issue_login("spotify")
    document["authModel"]["errorType"] = None
    document["integration"]["isSuperPrivate"] = True
    document["somethingNew"] = {"nested": [1, 2]}
    response = user.come_back(user.callback_url(login, encode_data64(document)))

    assert response.status_code == 303


def test_several_services_at_once_and_reconnecting_replaces(user: User) -> None:
    assert user.connect("spotify").status_code == 303
    assert user.connect("tidal").status_code == 303
    first_uuid = {a["service"]: a["integrationUserUUID"] for a in user.accounts()}["spotify"]
    assert user.connect("spotify").status_code == 303

    accounts = {a["service"]: a["integrationUserUUID"] for a in user.accounts()}
    assert sorted(accounts) == ["spotify", "tidal"]
    assert accounts["spotify"] != first_uuid


def test_the_chooser_accepts_any_allowed_service(user: User) -> None:
    login = user.start_login(None)
    assert urlsplit(login.headers["Location"]).path.endswith("/auth/test-slug")
    response = user.come_back(user.callback_url(login, encode_data64(user.simulator.issue_login("youtube"))))

    assert response.status_code == 303
    assert user.connected_services() == ["youtube"]


def test_next_is_followed_when_local(user: User) -> None:
    response = user.connect("spotify", next_path="/account/settings?tab=music")

    assert response.headers["Location"] == "/account/settings?tab=music"


@pytest.mark.parametrize("hostile", ["//evil.example", "https://evil.example/", "/\\evil.example", "/%2F%2Fevil"])
def test_next_never_leaves_the_site(user: User, hostile: str) -> None:
    response = user.connect("spotify", next_path=hostile)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_disconnect_removes_one_account(user: User) -> None:
    user.connect("spotify")
    user.connect("deezer")
    response = user.post("/disconnect/spotify", {"csrf_token": user.csrf_token or ""})

    assert response.status_code == 303
    assert user.connected_services() == ["deezer"]


def test_logout_removes_everything(user: User) -> None:
    user.connect("spotify")
    user.connect("deezer")
    response = user.post("/logout", {"csrf_token": user.csrf_token or ""})

    assert response.status_code == 303
    assert user.accounts() == []
    assert not any(name.startswith("acct-") for name in user.cookie_names())


def test_api_session_without_accounts_is_401_json(user: User) -> None:
    response = user.get("/api/session")

    assert response.status_code == 401
    assert response.json() == {"error": "not_connected"}
    assert response.headers["Cache-Control"] == "no-store"


def test_api_session_is_never_cached(user: User) -> None:
    user.connect("spotify")
    response = user.get("/api/session")

    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "application/json"


def test_healthz(user: User) -> None:
    response = user.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
