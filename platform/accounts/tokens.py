"""The token of the email-verification link.

Django's password-reset token generator, with its own salt and a hash over the verification
state: a link is signed (no table of tokens), expires after ``PASSWORD_RESET_TIMEOUT`` (three
days), and stops working once the address is verified or changed, because the hashed value
changes then. A password-reset token cannot be replayed as a verification one (other salt).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "accounts.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{user.pk}{user.email}{user.email_verified_at}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()
