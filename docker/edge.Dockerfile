# docker/edge.Dockerfile - the local Cloudflare edge emulator (tests/edge: D1, KV, Queues, R2 on
# workerd) as a container, for docker/compose.yaml. Build from the repository root; NODE_IMAGE
# may point at a private registry (any Debian-based Node 20+ image).
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}
WORKDIR /edge
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error && npm cache clean --force
COPY tests/edge tests/edge
COPY workers workers
# the emulator listens on loopback only: compose runs wal2edge in this container's network
ENV EDGE_STATE_DIR=/var/lib/edge EDGE_PORT=8787
# made here, owned by the node user, so a new named volume starts out writable by it
RUN install -d -o node -g node /var/lib/edge
VOLUME ["/var/lib/edge"]
USER node
CMD ["node", "tests/edge/src/main.mjs"]
