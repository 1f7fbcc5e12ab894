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
ENTRYPOINT ["tradeplane"]
CMD ["serve", "--grpc-listen", "0.0.0.0:50051", "--http-listen", "0.0.0.0:8080", "--data-dir", "/data"]
