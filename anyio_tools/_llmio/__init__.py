"""Provider adapters: the pure conversions, the streaming LLMs and their errors (issue #13).

The core and the runtime never import this package; ``anyio_tools.openai``,
``anyio_tools.anthropic`` and ``anyio_tools.providers`` are its public faces.
"""
