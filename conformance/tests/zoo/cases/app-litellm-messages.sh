#!/usr/bin/env bash
# LiteLLM as a gateway (its `upstream` model) serving its Anthropic-shaped /v1/messages in
# front of an OpenAI-compatible backend, `ssekit serve`'s mock model making one token every
# 100 ms: LiteLLM translates the backend's chat chunks into Anthropic's typed events. (Its
# mock_response cannot stand in here: on /v1/messages it answers one JSON message even to
# "stream": true.)
source "$ZOO/lib.sh"

start_ssekit_serve --mock-token-ms 100
start_litellm "http://127.0.0.1:$SERVE_PORT/v1"
litellm_request upstream messages
emit_args "$LITELLM_URL" --profile anthropic --data "@$WORK/request.json" \
    --header "Authorization: Bearer $LITELLM_KEY"
