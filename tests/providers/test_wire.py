"""The OpenAI wire client's event parsing (the providers' tests cover it against servers)."""

from __future__ import annotations

import pytest

from evalkit.errors import ProviderCallError
from evalkit.providers.wire import _event


def test_an_event_with_a_null_error_is_an_ordinary_event():
    assert _event('{"choices": [], "error": null}') == {"choices": [], "error": None}


def test_an_error_event_raises_a_retryable_server_error():
    with pytest.raises(ProviderCallError) as caught:
        _event('{"error": {"message": "overloaded"}}')
    assert caught.value.error_class == "server_error" and "overloaded" in str(caught.value)


def test_an_event_that_is_not_json_is_malformed():
    with pytest.raises(ProviderCallError) as caught:
        _event("{not json")
    assert caught.value.error_class == "malformed"
