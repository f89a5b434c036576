# Multi-stage build: compile with the vendored OpenSSL, libpq and SQLite, ship a slim image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY build.rs ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY tests tests
RUN cargo build --release --locked --bin tessera

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/tessera --create-home tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
ENV TESSERA_BIND=0.0.0.0:8080 TESSERA_DATA_DIR=/var/lib/tessera/data
EXPOSE 8080
ENTRYPOINT ["tessera"]
CMD ["serve"]
