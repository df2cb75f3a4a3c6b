# syntax=docker/dockerfile:1
# tcpnetlock: a connection-lifetime TCP lock server.
#
#   docker build -t tcpnetlock .
#   docker run --rm -p 7654:7654 tcpnetlock
#
# Build with --build-arg RUN_TESTS=1 to run the whole test suite (scripts/test.sh,
# including the sanitizer build) inside the build stage first.

# ---- build stage: the same scripts as the README and CI ----
FROM debian:bookworm-slim AS build
ARG RUN_TESTS=0
WORKDIR /src
COPY . .
RUN scripts/install-deps.sh
RUN if [ "$RUN_TESTS" = 1 ]; then scripts/test.sh; fi
RUN scripts/build.sh --target tcpnetlock_server --target tcpnetlock_client --target tcpnetlock_do \
 && cmake --install build/release --prefix /opt/tcpnetlock --strip

# ---- runtime stage: the binaries and the shared libraries they load, nothing else ----
# tests/scripts/runtime_image.sh reads the package list below and checks that the server
# runs with only these packages' libraries (plus libc6, libstdc++6 and libgcc-s1).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libfmt9 libspdlog1.10 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin tcpnetlock
COPY --from=build /opt/tcpnetlock /opt/tcpnetlock
ENV PATH=/opt/tcpnetlock/bin:$PATH
USER 10001:10001
EXPOSE 7654
# One connection that asks `.ping` and expects `pong` (bash's /dev/tcp; no extra packages).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7654 && echo .ping >&3 && read -r -t 3 answer <&3 && [ \"$answer\" = pong ]"]
# SIGTERM (docker stop, Kubernetes) shuts the server down gracefully with exit status 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tcpnetlock_server"]
CMD ["--listen", "0.0.0.0", "--port", "7654"]
