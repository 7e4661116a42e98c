from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wa_groups.errors import ClientValidationError, WAGroupsError, WebhookPayloadError, WebhookVerificationError
from wa_groups.webhooks import SIGNATURE_HEADER, sign_body, verify_signature

SECRET = "app-secret-for-tests-0123456789"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def reference_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_header_name() -> None:
    assert SIGNATURE_HEADER == "X-Hub-Signature-256"


def test_sign_body_matches_hmac_sha256() -> None:
    assert sign_body(BODY, SECRET) == reference_signature(BODY, SECRET)


def test_valid_signature_passes() -> None:
    verify_signature(BODY, sign_body(BODY, SECRET), SECRET)


def test_uppercase_hex_prefix_and_surrounding_space_pass() -> None:
    header = sign_body(BODY, SECRET)
    verify_signature(BODY, "SHA256=" + header[len("sha256=") :].upper(), SECRET)
    verify_signature(BODY, f"  {header} ", SECRET)


@pytest.mark.parametrize(
    "body",
    [
        BODY[:-1],  # truncated
        BODY + b" ",  # re-serialised with trailing whitespace
        BODY.replace(b"[]", b"[{}]"),  # tampered
        b"",
    ],
)
def test_changed_body_is_rejected(body: bytes) -> None:
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_signature(body, sign_body(BODY, SECRET), SECRET)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_signature(BODY, sign_body(BODY, "another-secret"), SECRET)


def test_missing_header_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_signature(BODY, None, SECRET)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256",
        "sha256=",
        "sha1=" + hashlib.sha1(BODY).hexdigest(),
        hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),  # no prefix
        "sha256=" + "z" * 64,
        "sha256=" + "a" * 63,
        "sha256=" + "a" * 65,
        "sha256=" + "é" * 64,
        reference_signature(BODY, SECRET) + ",sha256=00",
        "sha256 = " + "a" * 64,
    ],
)
def test_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_signature(BODY, header, SECRET)


def test_empty_secret_is_rejected_even_with_matching_header() -> None:
    forged = "sha256=" + hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookVerificationError, match="no app secret"):
        verify_signature(BODY, forged, "")


def test_sign_body_refuses_empty_secret() -> None:
    with pytest.raises(ClientValidationError):
        sign_body(BODY, "")


def test_error_messages_hold_no_secret_or_digest() -> None:
    expected_hex = reference_signature(BODY, SECRET)[len("sha256=") :]
    wrong = sign_body(BODY, "not-the-secret")
    for header in (None, "garbage", wrong):
        with pytest.raises(WebhookVerificationError) as caught:
            verify_signature(BODY, header, SECRET)
        text = f"{caught.value} {caught.value!r}"
        assert SECRET not in text
        assert expected_hex not in text
        assert BODY.decode() not in text


def test_payload_error_is_a_verification_error_and_a_value_error() -> None:
    assert issubclass(WebhookPayloadError, WebhookVerificationError)
    assert issubclass(WebhookPayloadError, ValueError)
    assert issubclass(WebhookVerificationError, WAGroupsError)


@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40))
def test_any_body_signed_with_the_secret_verifies(body: bytes, secret: str) -> None:
    verify_signature(body, sign_body(body, secret), secret)


@given(body=st.binary(min_size=1, max_size=256), index=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_single_byte_change_is_rejected(body: bytes, index: int, flip: int) -> None:
    header = sign_body(body, SECRET)
    position = index % len(body)
    tampered = body[:position] + bytes([body[position] ^ flip]) + body[position + 1 :]
    with pytest.raises(WebhookVerificationError):
        verify_signature(tampered, header, SECRET)


@given(header=st.one_of(st.none(), st.text(max_size=80)))
def test_arbitrary_headers_raise_only_verification_errors(header: str | None) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_signature(BODY, header, SECRET)
