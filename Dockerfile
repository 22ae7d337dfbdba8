# syntax=docker/dockerfile:1
# criscope's container image, for the installer DaemonSet (config/kubernetes/criscope-installer.yaml).
# The image never runs criscope as a pod: kubelet cannot start a pod through a proxy that is
# itself a pod, so the DaemonSet copies the executable onto the node, where systemd runs it
# (see docs/operating.md). `docker build -t ghcr.io/criscope/criscope:0.1.0 .`
#
# Pin both images by digest for reproducible builds (NODE_IMAGE=node:20-bookworm-slim@sha256:…).
# The executable is the node binary of the build stage with criscope inside (Node's
# single-executable application), so one image is one architecture: build each with
# `docker buildx build --platform linux/amd64,linux/arm64`.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The dependencies first, so that a source change reuses this layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# tsc, then dist/criscope.cjs and dist/criscope. The build writes dist/criscope.sea-skipped
# instead of the executable when this Node cannot make one; fail here, naming why.
RUN npm run build \
 && if [ ! -x dist/criscope ]; then echo "no single executable: $(cat dist/criscope.sea-skipped 2>/dev/null)" >&2; exit 1; fi

# Debian rather than distroless: the installer runs `nsenter` (util-linux) to call the host's
# systemctl in PID 1's namespaces, and `sh` and `sed` to render the node's environment file. The final image
# carries nothing of the build stage but the one executable: no Node, no npm, no node_modules.
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="criscope" \
      org.opencontainers.image.description="Installer for criscope, a transparent CRI proxy that traces, measures and checks kubelet's calls to the container runtime; it runs on the node as a systemd service" \
      org.opencontainers.image.source="https://github.com/criscope/criscope" \
      org.opencontainers.image.documentation="https://github.com/criscope/criscope/blob/main/docs/operating.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
COPY --from=build /src/dist/criscope /usr/local/bin/criscope
# The executable needs only glibc and libstdc++ (the host needs them too); prove it runs here,
# and that the tools the installer calls are in this base.
RUN ["/usr/local/bin/criscope", "--version"]
RUN command -v nsenter && command -v sh && command -v sed && command -v sleep
# Not root by default: nothing in this image needs root except installing onto a node, and the
# installer DaemonSet asks for that explicitly. Its install init container runs as root
# (runAsUser: 0), privileged, because it writes the host's files under /host and enters PID 1's
# namespaces.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/criscope"]
CMD ["--help"]
