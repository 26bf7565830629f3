"""Newsletter tokens and signed identify, as functions (app/identity/tokens.py)."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.core.errors import BadInput, Forbidden
from app.identity.tokens import check_user_hash, issue_token, user_hash, verify_token

SECRET = "server-secret"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def token(user: str = "alice", shop: int = 1, ttl: int = 30, secret: str = SECRET) -> str:
    return issue_token(secret, shop, user, NOW, ttl)


def test_token_names_its_customer() -> None:
    assert verify_token(SECRET, token("alice"), 1, NOW) == "alice"


def test_token_keeps_any_user_id() -> None:
    user = "Ünïcode user+tag@example.com/\"quoted\""
    assert verify_token(SECRET, token(user), 1, NOW) == user


def test_token_is_url_safe() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token("a/b?c=d&e f+ü"))


def test_tokens_differ_by_customer_and_shop() -> None:
    assert len({token("alice"), token("bob"), token("alice", shop=2)}) == 3


def test_token_signed_with_another_secret_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        verify_token(SECRET, token(secret="guessed"), 1, NOW)


def test_every_altered_character_is_forbidden() -> None:
    original = token()
    for index, char in enumerate(original):
        if char == ".":
            continue
        altered = original[:index] + ("A" if char != "A" else "B") + original[index + 1:]
        with pytest.raises(Forbidden):
            verify_token(SECRET, altered, 1, NOW)


def test_payload_of_one_token_with_signature_of_another_is_forbidden() -> None:
    payload, _ = token("alice").split(".")
    _, signature = token("bob").split(".")
    with pytest.raises(Forbidden):
        verify_token(SECRET, f"{payload}.{signature}", 1, NOW)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b.c", "!!!.???", "é.é"])
def test_malformed_token_is_forbidden(garbage: str) -> None:
    with pytest.raises(Forbidden):
        verify_token(SECRET, garbage, 1, NOW)


def test_token_is_valid_until_its_expiry() -> None:
    assert verify_token(SECRET, token(ttl=7), 1, NOW + timedelta(days=7)) == "alice"


def test_expired_token_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="expired"):
        verify_token(SECRET, token(ttl=7), 1, NOW + timedelta(days=7, seconds=1))


def test_token_of_another_shop_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="another shop"):
        verify_token(SECRET, token(shop=2), 1, NOW)


@pytest.mark.parametrize("ttl", [0, -1, 366])
def test_ttl_out_of_range_is_bad_input(ttl: int) -> None:
    with pytest.raises(BadInput):
        token(ttl=ttl)


def test_user_hash_is_hex_hmac_sha256_of_the_user_id() -> None:
    expected = hmac.new(b"shop-secret", b"alice", hashlib.sha256).hexdigest()
    assert user_hash("shop-secret", "alice") == expected
    check_user_hash("shop-secret", "alice", expected)
    check_user_hash("shop-secret", "alice", expected.upper())


def test_user_hash_uses_utf8() -> None:
    expected = hmac.new("clé".encode(), "zoë".encode(), hashlib.sha256).hexdigest()
    check_user_hash("clé", "zoë", expected)


@pytest.mark.parametrize("given", [None, "", "00", "not hex"])
def test_missing_or_malformed_user_hash_is_forbidden(given: str | None) -> None:
    with pytest.raises(Forbidden):
        check_user_hash("shop-secret", "alice", given)


def test_hash_of_another_user_or_secret_is_forbidden() -> None:
    for given in (user_hash("shop-secret", "bob"), user_hash("other-secret", "alice")):
        with pytest.raises(Forbidden):
            check_user_hash("shop-secret", "alice", given)
