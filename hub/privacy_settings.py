"""Settings of the member self-service page (kept apart from :mod:`hub.privacy`, which needs the
configuration, so the configuration can include them)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from vivant.config_file import Secret, StrictModel


class PrivacySettings(StrictModel):
    """The self-service page and the e-mail that leads to it."""

    email_url: Secret | None = Field(
        default=None,
        description=(
            "Apprise e-mail URL the links are sent through, without the recipient, e.g. "
            "mailtos://user:password@smtp.example.org?from=vivant@example.org "
            "({env: NAME} or {file: PATH}). Unset: links cannot be requested by e-mail."
        ),
    )
    link_max_age_min: int = Field(
        default=60, ge=5, le=7 * 24 * 60, description="Minutes a self-service link stays valid."
    )
    requests_per_client: int = Field(
        default=5, ge=1, le=1000, description="Link requests per client address and window."
    )
    requests_per_address: int = Field(
        default=3, ge=1, le=100, description="Links sent to one e-mail address per window."
    )
    request_window_min: int = Field(
        default=60, ge=1, le=24 * 60, description="Minutes of the request rate-limit window."
    )

    @field_validator("email_url")
    @classmethod
    def _mail_scheme(cls, value: Secret | None) -> Secret | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in (
            "mailto",
            "mailtos",
        ):
            raise ValueError("email_url must be an Apprise mailto:// or mailtos:// URL")
        return value

    @property
    def link_max_age_s(self) -> int:
        """Link validity in seconds."""
        return self.link_max_age_min * 60
