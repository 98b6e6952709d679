"""Convert one `LLMRequest` for every provider and collect what each real API would reject."""

from __future__ import annotations

import attrs

from anyio_tools.anthropic import anthropic_request
from anyio_tools.openai import chat_request, responses_request
from anyio_tools.runtime import LLMRequest

from . import validators


def provider_violations(request: LLMRequest) -> list[str]:
    """The violations of the request as sent to each provider, with and without its tools."""
    errors: list[str] = []
    variants = [request]
    if request.tools:
        variants.append(attrs.evolve(request, tools=[], tool_choice="auto"))
    for variant in variants:
        chat = {"model": "m", "stream": True, **chat_request(variant)}
        errors += [f"chat: {e}" for e in validators.openai_chat(chat)]
        responses = {"model": "m", "stream": True, **responses_request(variant)}
        errors += [f"responses: {e}" for e in validators.openai_responses(responses)]
        for strict in (False, True):
            body = anthropic_request(variant, strict=strict)
            anthropic = {"model": "m", "max_tokens": 16, "stream": True, **body}
            errors += [f"anthropic: {e}" for e in validators.anthropic_messages(anthropic)]
    return errors
