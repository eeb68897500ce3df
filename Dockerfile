# x402scope in a container, for users who run Docker (no test depends on it).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p x402scope

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/x402scope /usr/local/bin/x402scope
COPY --from=build /src/migrations /usr/share/x402scope/migrations
WORKDIR /data
ENTRYPOINT ["x402scope"]
