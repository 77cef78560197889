vcl 4.1;
# Varnish with the built-in VCL only: the backend and nothing else.
backend default {
    .host = "127.0.0.1";
    .port = "@UP@";
}
