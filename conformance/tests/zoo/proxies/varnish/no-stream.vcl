vcl 4.1;
# Broken on purpose: event streams bypass the cache but beresp.do_stream is false, so Varnish
# fetches the whole body before it delivers anything, and an event stream never ends.
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
    set beresp.do_stream = false;
}
