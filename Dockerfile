# gusu for docker-compose and production: a static binary on Debian slim.
# The database is external (GUSU_DATABASE_URL); see docker-compose.yml.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/gusu ./cmd/gusu

FROM debian:bookworm-slim
# gdal-bin lets uploads take KML/KMZ, FileGDB, DXF, MapInfo, GML, FlatGeobuf and CSV.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates wget gdal-bin \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/gusu --create-home gusu
COPY --from=build /out/gusu /usr/local/bin/gusu
USER gusu
WORKDIR /var/lib/gusu
ENV GUSU_ADDR=0.0.0.0:8080 \
    GUSU_DATA_DIR=/var/lib/gusu \
    GUSU_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["gusu"]
CMD ["serve"]
