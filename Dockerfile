# syntax=docker/dockerfile:1
# pushgate container image: `docker build -t pushgate .` (BuildKit, the default since Docker 23).
# See deploy/README.md for running it, and deploy/compose/ for Flink + pushgate + Prometheus +
# Grafana.

# --- build: release binary. The cargo registry and target/ live in BuildKit cache mounts, so a
# source change rebuilds only pushgate itself, not its dependencies.
FROM rust:1-slim-bookworm AS build
# jemalloc (pushgate's allocator) is built from C sources with make, which the slim image lacks.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package pushgate --bin pushgate \
    && install -D -m 0755 target/release/pushgate /out/pushgate

# --- runtime: Debian slim (same glibc as the build stage) plus curl for the HEALTHCHECK.
# Distroless would save about 10 MB but has no shell or HTTP client, so the health check would
# need its own subcommand in pushgate; curl is the simplest check that cannot drift from the
# real endpoint.
FROM debian:bookworm-slim
# Unpinned on purpose: bookworm's security updates replace curl's exact version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pushgate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/pushgate --shell /usr/sbin/nologin pushgate \
    && install -d -o pushgate -g pushgate -m 0750 /var/lib/pushgate
COPY --from=build /out/pushgate /usr/local/bin/pushgate
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /var/lib/pushgate
# The store survives restarts and container replacement in this volume (written at most every
# --persistence.interval and on SIGTERM, which `docker stop` sends).
VOLUME ["/var/lib/pushgate"]
EXPOSE 9091
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9091/-/healthy"]
ENTRYPOINT ["/usr/local/bin/pushgate"]
CMD ["--persistence.file=/var/lib/pushgate/pushgate.db"]
