# dim-station image: Node 24 runs the TypeScript sources directly (type stripping), no build step.
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The `node` dev dependency only provisions Node 24 on machines whose system Node is older; the image has it.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY workers ./workers
# The data directory exists in the image, owned by the user the station runs as: a named volume mounted
# on it starts with this ownership (Docker copies it), so the first start can create /data/station.json.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
ENV DIM_DATA_DIR=/data DIM_HOST=0.0.0.0 DIM_PORT=9394 NODE_ENV=production
EXPOSE 9394
# A process that listens is healthy for gateways; workers have no port (compose overrides the check).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('net').connect(process.env.DIM_PORT||9394,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"]
ENTRYPOINT ["node", "workers/station.ts"]
CMD ["all"]
