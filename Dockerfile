# syntax=docker/dockerfile:1
# mldeploy web service image.
#   docker build -t mldeploy .
#   docker run -p 9696:9696 -v "$PWD/mldeploy-data/models/ride-duration:/model:ro" mldeploy
# Or bake a model in:  docker build --build-arg MODEL_DIR=mldeploy-data/models/ride-duration -t ride-duration .
# MLDEPLOY_MODEL picks the model at run time (a path inside the image or a mounted volume).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
# serve (and the --metrics-port of batch and stream) listen on 127.0.0.1 unless told otherwise:
# in a container, every interface, so that the port published or the Service reaches them.
# Logs are JSON lines for the log shipper even under `docker run -t` (a terminal).
ENV NODE_ENV=production \
    MLDEPLOY_LOG_FORMAT=json \
    MLDEPLOY_HOST=0.0.0.0 \
    MLDEPLOY_METRICS_HOST=0.0.0.0 \
    MLDEPLOY_PORT=9696 \
    MLDEPLOY_MODEL=/model
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# Optional baked-in model: an empty directory unless MODEL_DIR names one in the build context.
ARG MODEL_DIR=.docker-empty-model
COPY --chown=node:node ${MODEL_DIR} /model
USER node
EXPOSE 9696
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.MLDEPLOY_PORT||9696)+'/ping').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
