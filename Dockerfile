# syntax=docker/dockerfile:1
# kmigrate's container image: a static binary on distroless (which carries the
# CA bundle that tls: {} verifies brokers with), as user nonroot.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t kmigrate .
#
# The binary is built by tools/build-static, the same script deploy's tests
# run and check (static ELF, no k8s modules linked, `kmigrate version`).
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY . .
ARG VERSION=""
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION tools/build-static /out/kmigrate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kmigrate /usr/local/bin/kmigrate
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kmigrate"]
