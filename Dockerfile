# dim-station image: Node 24 runs the TypeScript sources directly (type stripping), no build step.
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The `node` dev dependency only provisions Node 24 on machines whose system Node is older; the image has it.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY workers ./workers
USER node
ENV DIM_DATA_DIR=/data DIM_HOST=0.0.0.0 DIM_PORT=9394
EXPOSE 9394
ENTRYPOINT ["node", "workers/station.ts"]
CMD ["all"]
