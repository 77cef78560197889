#!/usr/bin/env bash
# LiteLLM in front of a backend that fails mid-answer: `ssekit serve`'s mock model sends 3
# tokens, then an OpenAI-style error event, then [DONE]. What does the client of the gateway
# get: the error as an event, or a cut?
source "$ZOO/lib.sh"

start_ssekit_serve --mock-token-ms 50 --mock-fail-after 3
start_litellm "http://127.0.0.1:$SERVE_PORT/v1"
litellm_request upstream
emit_args "$LITELLM_URL" --profile openai --data "@$WORK/request.json" \
    --header "Authorization: Bearer $LITELLM_KEY"
