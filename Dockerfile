# gridrpc-member (and gridrpc-cli) on Debian 12. `./dev image` makes the base image from Debian's
# packages with debootstrap and builds this file (docs/OPERATIONS.md, "Container image").
#
# The build stage compiles in /src/build like a developer's tree/build, with the same g++ and
# CCACHE_BASEDIR=/src, so ccache hits what the host compiled. `./dev image` bind-mounts the host's
# cache (--volume HOST:/ccache --build-arg CCACHE_DIR=/ccache); a plain `podman build .` uses a
# cache mount of the builder's own.
ARG BASE=localhost/debian-base:12

FROM ${BASE} AS build
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       cmake ninja-build ccache g++ pkg-config libgrpc++-dev protobuf-compiler-grpc \
       libprotobuf-dev libprotoc-dev protobuf-compiler libabsl-dev libxxhash-dev \
       prometheus-cpp-dev grpc-proto >/dev/null \
    && rm -rf /var/lib/apt/lists/*
# The layers below are one build's own: ./dev image drops those of earlier builds.
LABEL io.gridrpc.image.stage=build
COPY . /src
# The programs the image ships; those whose target this tree does not have are left out, but
# gridrpc-member is required.
ARG TARGETS="gridrpc-member gridrpc-cli"
ARG CCACHE_DIR=/root/.cache/ccache
RUN --mount=type=cache,target=/root/.cache/ccache \
    set -eu; \
    export CCACHE_DIR="${CCACHE_DIR}" CCACHE_BASEDIR=/src CCACHE_STATSLOG=/tmp/ccache.log; \
    cmake -S /src -B /src/build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DGRIDRPC_BUILD_TESTS=OFF >/dev/null; \
    targets=; \
    for t in ${TARGETS}; do \
      if ninja -C /src/build -t query "$t" >/dev/null 2>&1; then targets="$targets $t"; \
      else echo "image: no target $t in this tree, left out"; fi; \
    done; \
    case " $targets " in *" gridrpc-member "*) ;; *) echo "image: gridrpc-member missing" >&2; exit 1;; esac; \
    cmake --build /src/build --target $targets; \
    if [ -f /tmp/ccache.log ]; then ccache --show-log-stats | grep -E 'Hits|Misses'; fi; \
    mkdir -p /out; \
    for t in $targets; do install -m 0755 "/src/build/bin/$t" /out/; done

FROM ${BASE}
# Only what the programs load at run time (the ldd check below fails the build if one is missing).
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       libgrpc++1.51 libprotobuf32 libabsl20220623 libxxhash0 libprometheus-cpp-core1.0 \
       libprometheus-cpp-pull1.0 ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --gid 10001 gridrpc \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gridrpc
LABEL io.gridrpc.image.stage=runtime
COPY --from=build /out/ /usr/local/bin/
RUN if ldd /usr/local/bin/* | grep 'not found'; then exit 1; fi
# Runs as a user of its own and writes nothing outside /tmp: fit for --read-only and Kubernetes'
# readOnlyRootFilesystem, runAsNonRoot and a dropped capability set.
USER 10001:10001
# Clients, the peer port, metrics and probes (--metrics_listen).
EXPOSE 5701 5702 9090
ENTRYPOINT ["/usr/local/bin/gridrpc-member"]
# A member alone, reachable from outside the container. Members of a cluster are given their
# flags (--coordinator=etcd, --advertise, ...), which replace these.
CMD ["--listen=0.0.0.0:5701", "--peer_listen=0.0.0.0:5702", "--metrics_listen=0.0.0.0:9090"]
