"""The provider stand-ins of the channel tests, for handoffs that arrive by SMS."""

from tests.channels.conftest import twilio_api

__all__ = ["twilio_api"]
