import pytest

from auth_svc.domain import normalise_email, validate_sign_in, validate_sign_up
from common.errors import InvalidInput


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalise_email("  Ann@Example.COM ") == "ann@example.com"
    assert validate_sign_up(" Ann@Example.com", "12345678").email == "ann@example.com"


@pytest.mark.parametrize("email", ["", "   ", "ann", "ann@", "@example.com", "ann@example", "a b@example.com"])
def test_bad_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_sign_up(email, "12345678")
    assert [v.field for v in caught.value.violations] == ["email"]


@pytest.mark.parametrize("password", ["", "1234567", "x" * 129])
def test_password_length_is_8_to_128(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_sign_up("ann@example.com", password)
    assert [v.field for v in caught.value.violations] == ["password"]
    assert validate_sign_up("ann@example.com", "x" * 128).password == "x" * 128


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_sign_up("nope", "short")
    assert {v.field for v in caught.value.violations} == {"email", "password"}
    with pytest.raises(InvalidInput):
        validate_sign_in("", "")
