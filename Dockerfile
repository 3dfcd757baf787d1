# AegisAPI container image.
#
# Stage 1 builds on Debian bookworm with the same packages as
# tools/install-deps.sh and runs the unit tests; stage 2 is bookworm-slim with
# only the runtime libraries, running as a non-root user under tini, so that
# SIGTERM from the orchestrator reaches aegis, which drains and exits 0.
# Proven without a Docker engine by tools/docker-chroot-proof.sh.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libboost1.81-dev libhiredis-dev libspdlog-dev \
      libfmt-dev libgtest-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt .env.example ./
COPY cmake ./cmake
COPY include ./include
COPY lua ./lua
COPY src ./src
COPY tests ./tests
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAEGIS_WERROR=ON \
 && cmake --build build -j"$(nproc)" \
 && ctest --test-dir build -L unit --output-on-failure \
 && strip build/aegis

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libspdlog1.10 libfmt9 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin aegis
COPY --from=build /src/build/aegis /usr/local/bin/aegis
USER aegis
# Render sets PORT; aegis reads it (default 8080).
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/aegis"]
