"""The fitness assistant (issue "gymchain, part 3"): a curated PT/EN knowledge base embedded into PostgreSQL,
rule-first intent routing, grounded answers phrased by a local GGUF model (llama.cpp) or an OpenAI-compatible
server, personalised plans, and booking/cancelling through the members service with the member's own token.
See gym/docs/assistant.md."""
