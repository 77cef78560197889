#!/usr/bin/env bash
# app-litellm-think with LiteLLM's own keep-alive switched on for the deployment
# (keepalive_seconds: 1, model upstream-keepalive in apps/python/litellm_config.yaml): LiteLLM
# writes a `: ping` comment after each second without a chunk, so the 3 s think is covered.
source "$ZOO/lib.sh"

start_ssekit_serve --mock-think-ms 3000 --mock-token-ms 50 --heartbeat 0.5
start_litellm "http://127.0.0.1:$SERVE_PORT/v1"
litellm_request upstream-keepalive
emit_args "$LITELLM_URL" --profile openai --data "@$WORK/request.json" \
    --header "Authorization: Bearer $LITELLM_KEY" --heartbeat-max 2
