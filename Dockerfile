# syntax=docker/dockerfile:1
# Two images from one build: the reference server and the harness.
#   docker build --target reference-server -t reference-server .
#   docker build --target conformance -t conformance .
# The release workflow builds both and smoke-tests the server (start, /readyz, one request).

FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p reference-server -p conformance \
    && strip target/release/reference-server target/release/conformance

# The stand-in: configured by REFSERVER_* variables (README, "Running the reference server"),
# its memory indexes kept in the /data volume.
FROM debian:bookworm-slim AS reference-server
RUN useradd --system --uid 10001 --create-home --home-dir /data refserver
COPY --from=build /src/target/release/reference-server /usr/local/bin/reference-server
ENV REFSERVER_HOST=0.0.0.0 \
    REFSERVER_PORT=8080 \
    REFSERVER_INDEX_PATH=/data/indexes.redb
VOLUME ["/data"]
WORKDIR /data
USER 10001
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${REFSERVER_PORT} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
ENTRYPOINT ["reference-server"]

# The harness: `docker run --rm conformance run --target https://…` (reports under /work).
FROM debian:bookworm-slim AS conformance
# The system's roots, for targets behind TLS; Debian's security updates keep the version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /work conformance
COPY --from=build /src/target/release/conformance /usr/local/bin/conformance
WORKDIR /work
USER 10001
ENTRYPOINT ["conformance"]
CMD ["run"]
