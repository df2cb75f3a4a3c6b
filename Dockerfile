# syntax=docker/dockerfile:1
# tcpnetlock: a connection-lifetime TCP lock server.
#
#   docker build -t tcpnetlock:0.1.0 .
#   docker run --rm -p 7654:7654 -v tcpnetlock-state:/var/lib/tcpnetlock tcpnetlock:0.1.0
#
# The HTTP admin API (port 7655) listens on the container's loopback by default. To
# publish it, give the server an admin token (it refuses a non-loopback --http without
# one) and repeat the default arguments, which arguments after the image name replace:
#
#   docker run --rm -p 7654:7654 -p 7655:7655 -v tcpnetlock-state:/var/lib/tcpnetlock \
#     -v "$PWD/admin-token:/run/secrets/tcpnetlock-admin:ro" tcpnetlock:0.1.0 \
#     --listen 0.0.0.0 --port 7654 --state-dir /var/lib/tcpnetlock \
#     --http 0.0.0.0:7655 --admin-token-file /run/secrets/tcpnetlock-admin
#
# Tracker's gRPC API (port 7656, docs/GRPC.md) is on loopback too: publish it the same way
# with -p 7656:7656 and --grpc 0.0.0.0:7656 (it too needs the admin token off loopback).
# It is served with libnghttp2 (HTTP/2) and protobuf, both among the runtime packages below.
#
# Kubernetes manifests: deploy/kubernetes/.
#
# Build with --build-arg RUN_TESTS=1 to run the whole test suite (scripts/test.sh,
# including the sanitizer build) inside the build stage first. --build-arg BASE=IMAGE
# builds on another Debian 12 image (tests/scripts/image_build.sh uses a local one).
#
# tcpnetlock_do and tcpnetlock_client are static executables (no shared library, not even
# libc): an application image of any base, Alpine or distroless too, takes them with
#   COPY --from=tcpnetlock:0.1.0 /opt/tcpnetlock/bin/tcpnetlock_do /usr/local/bin/
# and the Kubernetes migration Job copies tcpnetlock_do from this image with an init
# container (deploy/kubernetes/migration-job.yaml).
ARG BASE=debian:bookworm-slim

# ---- build stage: the same scripts as the README and CI ----
FROM ${BASE} AS build
ARG RUN_TESTS=0
WORKDIR /src
# The packages first, from the files that choose them only: this layer stays cached while
# the sources change. Only the build's packages, unless the tests run here too (they need
# Chromium, Node.js and the browser test's npm packages, hence its package files).
COPY scripts/install-deps.sh scripts/
COPY tests/browser/package.json tests/browser/package-lock.json tests/browser/
RUN if [ "$RUN_TESTS" = 1 ]; then scripts/install-deps.sh; else scripts/install-deps.sh --build; fi \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN if [ "$RUN_TESTS" = 1 ]; then scripts/test.sh; fi
# Release: the static clients are on by default (TNL_STATIC_CLIENTS), said explicitly here.
RUN scripts/build.sh --target tcpnetlock_server --target tcpnetlock_client --target tcpnetlock_do \
      --target tcpnetlock_admin --target tcpnetlock_distlock -- -DTNL_STATIC_CLIENTS=ON -DTNL_BUILD_TESTS=OFF \
 && cmake --install build/release --prefix /opt/tcpnetlock --strip

# ---- runtime stage: the binaries and the shared libraries they load, nothing else ----
# The package list is exactly `scripts/install-deps.sh --runtime --print`;
# tests/scripts/runtime_image.sh checks that, and that the programs run with only these
# packages' libraries and their dependencies (plus what bookworm-slim ships). No compiler,
# no -dev package. tcpnetlock_do and tcpnetlock_client need none of these (static).
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libfmt9 libspdlog1.10 libhttp-parser2.9 libsqlite3-0 libcurl4 libssl3 libsystemd0 libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libc-ares2 libre2-9 libnghttp2-14 libyaml-cpp0.7 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tcpnetlock \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin tcpnetlock \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/tcpnetlock
COPY --from=build /opt/tcpnetlock /opt/tcpnetlock
ENV PATH=/opt/tcpnetlock/bin:$PATH
USER 10001:10001
# --state-dir: detached locks (SQLite) and the fencing-token high-water mark survive restarts.
VOLUME /var/lib/tcpnetlock
# 7654: the lock protocol. 7655: the HTTP admin API, status page, /metrics, /healthz and
# /readyz (on loopback unless --http says otherwise; see the top of this file). 7656: the
# gRPC API (on loopback unless --grpc says otherwise).
EXPOSE 7654 7655 7656
# One connection that asks `.ping` and expects `pong` (bash's /dev/tcp; no extra packages).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7654 && echo .ping >&3 && read -r -t 3 answer <&3 && [ \"$answer\" = pong ]"]
# SIGTERM (docker stop, Kubernetes) shuts the server down gracefully with exit status 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tcpnetlock_server"]
CMD ["--listen", "0.0.0.0", "--port", "7654", "--state-dir", "/var/lib/tcpnetlock"]
