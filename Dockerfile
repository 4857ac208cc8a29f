# syntax=docker/dockerfile:1
#
# certflow's images: one build stage compiling every program statically
# (CGO off; the SQLite driver is pure Go), then one small non-root image
# per program, each a target of this file:
#
#   docker build --target worker  -t certflow/worker  .
#   docker build --target gateway -t certflow/gateway .
#   docker build --target starter -t certflow/starter .
#   docker build --target casim   -t certflow/casim   .
#   docker build --target paysim  -t certflow/paysim  .
#   docker build --target eventsink -t certflow/eventsink .
#
# docker-compose.temporal.yml builds them the same way. Every image holds
# /usr/local/bin/healthcheck (cmd/healthcheck) for exec health probes: the
# base image has no shell and no curl. Versions are pinned; bump them
# here, together.

ARG GO_VERSION=1.26.8
ARG DISTROLESS=gcr.io/distroless/static-debian12:nonroot

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; mkdir -p /out; \
    for p in worker:./worker gateway:./cmd/gateway starter:./starter casim:./cmd/casim paysim:./cmd/paysim eventsink:./cmd/eventsink healthcheck:./cmd/healthcheck; do \
        go build -ldflags='-s -w' -o "/out/${p%%:*}" "${p#*:}"; \
    done

# The base of every program image: distroless static, user nonroot
# (65532), no shell, CA certificates and tzdata included.
FROM ${DISTROLESS} AS base
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
USER 65532:65532
WORKDIR /home/nonroot

FROM base AS worker
COPY --from=build /out/worker /usr/local/bin/worker
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:9090/readyz"]
ENTRYPOINT ["/usr/local/bin/worker"]

FROM base AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM base AS starter
COPY --from=build /out/starter /usr/local/bin/starter
ENTRYPOINT ["/usr/local/bin/starter"]

FROM base AS casim
COPY --from=build /out/casim /usr/local/bin/casim
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8090/healthz"]
ENTRYPOINT ["/usr/local/bin/casim"]

FROM base AS paysim
COPY --from=build /out/paysim /usr/local/bin/paysim
# paysim listens on 127.0.0.1:8082 unless PAYSIM_ADDR says otherwise (a
# container sets 0.0.0.0:8082); it needs PAYSIM_TOKEN and PAYSIM_DB.
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8082/healthz"]
ENTRYPOINT ["/usr/local/bin/paysim"]

FROM base AS eventsink
COPY --from=build /out/eventsink /usr/local/bin/eventsink
# eventsink listens on 127.0.0.1:8083 unless EVENTSINK_ADDR says otherwise
# (a container sets 0.0.0.0:8083); it needs EVENTSINK_SECRETS.
EXPOSE 8083
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8083/healthz"]
ENTRYPOINT ["/usr/local/bin/eventsink"]
