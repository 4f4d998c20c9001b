# syntax=docker/dockerfile:1
# dualrs: one image for the API (`serve`) and the workers (`worker`); the command picks.
#   docker build -t dualrs .                    # GPU target (default): CUDA 12 + cuDNN 9 runtime
#   docker build --target cpu -t dualrs:cpu .   # CPU only, much smaller
# Base images are pinned by digest; the tag beside each says what it is. To update one, pull the
# new tag and replace both.

# Node.js 22 (Debian 12): builds the package and is the CPU runtime.
FROM node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c AS node

# CUDA 12.8 runtime with cuDNN 9, what onnxruntime-node 1.30's CUDA execution provider needs.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04@sha256:59e0e4376a0f16d10b03d3a14344b80a866a1674cb4948cb318291387ac05010 AS cuda

# Production dependencies only. ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's install script would
# only download the CUDA provider, which the GPU stage below fetches on purpose.
FROM node AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The same, plus the CUDA execution provider binaries, fetched at build time.
FROM deps AS deps-gpu
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install

# dist/ from the TypeScript sources, with the web page in dist/web.
FROM node AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsup.config.ts ./
COPY src ./src
# The evaluation's plot that the web page shows; npm run build copies it into dist/web.
COPY docs/results/certified-accuracy.png ./docs/results/
RUN npm run build
# The bundled zoo (the embedded default store), when the checkout has one; AWS deployments read S3.
RUN --mount=type=bind,target=/context \
    if [ -d /context/models ]; then cp -r /context/models ./models; else mkdir models; fi

# CPU-only runtime.
FROM node AS cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dualrs \
 && useradd --system --uid 10001 --gid dualrs --home-dir /app --shell /usr/sbin/nologin dualrs
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/app/data PROVIDERS=cpu
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY --from=build /app/models ./models
COPY infra/docker/entrypoint.sh /usr/local/bin/dualrs-entrypoint
COPY infra/docker/healthcheck.mjs /app/healthcheck.mjs
RUN mkdir -p /app/data && chown dualrs:dualrs /app/data && chmod 0755 /usr/local/bin/dualrs-entrypoint
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
# tini forwards SIGTERM to node, which drains (stops accepting, finishes or hands back jobs) and exits.
ENTRYPOINT ["/usr/bin/tini", "--", "dualrs-entrypoint"]
CMD ["serve"]

# GPU runtime (the default target): Node.js copied from the node stage onto the CUDA base.
# libvulkan1: the Vulkan loader for onnxruntime's WebGPU provider, the fallback where the CUDA provider
# cannot start; NVIDIA_DRIVER_CAPABILITIES adds graphics, so the container toolkit mounts the driver's
# Vulkan ICD beside CUDA.
FROM cuda AS gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates libvulkan1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dualrs \
 && useradd --system --uid 10001 --gid dualrs --home-dir /app --shell /usr/sbin/nologin dualrs
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/app/data PROVIDERS=auto \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics XDG_RUNTIME_DIR=/tmp
COPY --from=deps-gpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY --from=build /app/models ./models
COPY infra/docker/entrypoint.sh /usr/local/bin/dualrs-entrypoint
COPY infra/docker/healthcheck.mjs /app/healthcheck.mjs
RUN mkdir -p /app/data && chown dualrs:dualrs /app/data && chmod 0755 /usr/local/bin/dualrs-entrypoint
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "--", "dualrs-entrypoint"]
CMD ["serve"]
