# forge-exporter's container image (docs/release.md). Like the Prometheus
# exporters' images it holds only a binary that `make` already built, so no
# compiler runs here and nothing has to be pulled: `make image` builds a
# static, stripped binary (CGO_ENABLED=0, -trimpath, -s -w) into
# .build/<os>-<arch>/ and then this file. It builds unchanged with podman,
# Buildah or Docker.
#
# FROM scratch: no shell, no package manager, no libc, no CA bundle. The
# public TLS roots an HTTPS Gitea needs are compiled into the binary
# (golang.org/x/crypto/x509roots/fallback), so they are versioned with the
# binary's go.mod and covered by its SBOM instead of being a file that a
# base image would have to keep current.
FROM scratch

ARG OS=linux
ARG ARCH=amd64
ARG VERSION=dev
ARG REVISION=unknown

LABEL org.opencontainers.image.title="forge-exporter" \
      org.opencontainers.image.description="Prometheus exporter for a Gitea forge's backup, restore, storage and runner signals" \
      org.opencontainers.image.source="https://github.com/railiance/forge-exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# Owned by root and not writable by the user below.
COPY .build/${OS}-${ARCH}/forge-exporter /bin/forge-exporter

# A numeric non-root user (no /etc/passwd needed), as distroless "nonroot".
# Run the container with a read-only root filesystem: the exporter writes
# nothing but its logs (stderr).
USER 65532:65532
EXPOSE 10100
ENTRYPOINT ["/bin/forge-exporter"]
# The path the Helm chart mounts its ConfigMap at.
CMD ["--config.file=/etc/forge-exporter/config/forge-exporter.yaml"]
