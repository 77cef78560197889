vcl 4.1;
# Varnish in front of an SSE server, as recommended: event streams bypass the cache
# (return (pass) in vcl_recv) and are streamed as they arrive (beresp.do_stream, on by default
# since Varnish 4, set here to say so), with between_bytes_timeout far longer than the
# server's heartbeat.
backend default {
    .host = "127.0.0.1";
    .port = "@UP@";
    .between_bytes_timeout = 1h;
}

sub vcl_recv {
    if (req.url ~ "^/stream") {
        return (pass);
    }
}

sub vcl_backend_response {
    if (beresp.http.Content-Type ~ "^text/event-stream") {
        set beresp.do_stream = true;
        set beresp.uncacheable = true;
        return (deliver);
    }
}
