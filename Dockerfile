# certgate container image (docs/operations.md, "Container image").
#
#   podman build -t certgate .
#   podman run -p 8443:8443 certgate
#
# With nothing at /etc/certgate/certgate.json the container runs the built-in default,
# kept in the state volume: a private CA, a server certificate, a ClusterAdmin client
# bundle (/var/lib/certgate/default/clients/admin) and a policy that lets that bundle
# in from any address; it listens on 8443 in front of a database on 127.0.0.1:8080 (a
# sidecar's neighbour). Mount a configuration at /etc/certgate/certgate.json (a
# Kubernetes ConfigMap, say) and it runs that instead.
#
# BASE is the Debian 12 image both stages start from; where no registry is reachable,
# build one with mmdebstrap (docs/operations.md) and pass --build-arg BASE=...
ARG BASE=debian:bookworm-slim

# ---- deps: the project's own dependency script (--build: compiler and -dev packages).
# Its own stage, so that it stays cached (and can be tagged) while the sources change.
FROM ${BASE} AS deps
COPY scripts/deps /src/scripts/deps
RUN /src/scripts/deps --build && rm -rf /var/lib/apt/lists/*

# ---- build: CMake, the certgate target only ---------------------------------------
FROM deps AS build
COPY . /src
# The build context has no .git: pass the commit to have `certgate version` name it.
ARG GIT_COMMIT=
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCERTGATE_WERROR=ON -DBUILD_TESTING=OFF -DCERTGATE_GIT_COMMIT=${GIT_COMMIT} \
    && cmake --build /build --target certgate \
    && strip /build/certgate

# ---- run: the runtime libraries and the binary, nothing else ----------------------
FROM ${BASE}
ARG BASE
ARG GIT_COMMIT=
ARG VERSION=0.1.0
# The packages the Debian package's Depends names (dpkg-shlibdeps): BoringSSL from
# Android's build, libevent, nghttp2, jansson.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       android-libboringssl libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 libnghttp2-14 \
       libjansson4 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 65532 certgate \
    && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/certgate \
       --no-create-home --shell /usr/sbin/nologin certgate \
    && install -d -o 65532 -g 65532 -m 0700 /var/lib/certgate \
    && install -d -m 0755 /etc/certgate
COPY --from=build /build/certgate /usr/bin/certgate
COPY LICENSE NOTICE /usr/share/doc/certgate/

LABEL org.opencontainers.image.title="certgate" \
      org.opencontainers.image.description="TLS gateway that authorizes database clients by certificate and address" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.base.name="${BASE}"

# Everything certgate writes is in the volume: the root file system may be read-only.
USER 65532:65532
WORKDIR /var/lib/certgate
VOLUME ["/var/lib/certgate"]
EXPOSE 8443
ENTRYPOINT ["certgate"]
CMD ["run", "-c", "/etc/certgate/certgate.json", "--default-if-missing", \
     "--state-dir", "/var/lib/certgate/default", "--listen", "0.0.0.0:8443", \
     "--allow-ips", "0.0.0.0/0,::/0"]
