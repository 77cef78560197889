#!/usr/bin/env bash
# LiteLLM's OpenAI-compatible proxy server (the `litellm` CLI, v1.110) answering from
# `mock_response` (apps/python/litellm_config.yaml, model mock-gpt): no model, no network. The
# runner POSTs a streaming chat completion with the master key, as an OpenAI SDK pointed at the
# proxy would.
source "$ZOO/lib.sh"

start_litellm
litellm_request mock-gpt
emit_args "$LITELLM_URL" --profile openai --data "@$WORK/request.json" \
    --header "Authorization: Bearer $LITELLM_KEY"
