# tradeplane and tpctl in a small Debian image. Build from the repository
# root: docker build -t tradeplane .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tradeplane --bin tpctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data tradeplane && mkdir /data && chown tradeplane /data
COPY --from=build /src/target/release/tradeplane /src/target/release/tpctl /usr/local/bin/
USER tradeplane
VOLUME /data
EXPOSE 50051 8080
# Ready: the store is open and shutdown has not begun (health is open to
# every caller, so no key is needed). Kubernetes: the README's probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["tpctl", "--server", "127.0.0.1:50051", "--timeout", "2s", "health", "--service", "readiness"]
ENTRYPOINT ["tradeplane"]
CMD ["serve", "--grpc-listen", "0.0.0.0:50051", "--http-listen", "0.0.0.0:8080", "--data-dir", "/data"]
