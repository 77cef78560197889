vcl 4.1;
# Broken on purpose: event streams are passed and streamed, but the backend's
# between_bytes_timeout is 3 s and the server sends no heartbeat: Varnish abandons the fetch
# after 3 s without a byte, and the client's response is cut.
backend default {
    .host = "127.0.0.1";
    .port = "@UP@";
    .between_bytes_timeout = 3s;
}

sub vcl_recv {
    if (req.url ~ "^/stream") {
        return (pass);
    }
}
