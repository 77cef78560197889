#!/usr/bin/env bash
# LiteLLM as a gateway, its most common deployment (the `upstream` model forwards to an
# OpenAI-compatible backend), in front of a model that "thinks" 3 s after its first (role)
# chunk and then makes a token every 50 ms: `ssekit serve`'s mock, which keeps its own stream
# alive with a `: heartbeat` comment every 0.5 s meanwhile.
# LiteLLM reads the backend through the OpenAI SDK's parser, which drops comments, and has no
# keep-alive of its own unless configured: its client hears nothing while the model thinks.
# --heartbeat-max 2 stands for a proxy or load balancer in front with a 2 s idle timeout,
# which the backend's own stream would survive.
source "$ZOO/lib.sh"

start_ssekit_serve --mock-think-ms 3000 --mock-token-ms 50 --heartbeat 0.5
start_litellm "http://127.0.0.1:$SERVE_PORT/v1"
litellm_request upstream
emit_args "$LITELLM_URL" --profile openai --data "@$WORK/request.json" \
    --header "Authorization: Bearer $LITELLM_KEY" --heartbeat-max 2
