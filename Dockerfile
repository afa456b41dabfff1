# syntax=docker/dockerfile:1
# modelserve container image. Two stages: `build` compiles the TypeScript (needs devDependencies),
# `runtime` holds production dependencies, the compiled JS and a model repository — nothing else.
#
#   docker build -t modelserve .                                     # bakes examples/ into /app/models
#   docker build --build-arg MODEL_REPO=my-models -t my-service .    # bakes your own repository
#   docker run --rm -p 8080:8080 modelserve                          # POST http://localhost:8080/predict
#   docker run --rm -p 8080:8080 -v "$PWD/my-models:/app/models:ro" modelserve   # mount one instead
#
# The base is Debian (glibc): onnxruntime-node ships glibc binaries and does not run on musl/Alpine.
# Tests: test/deploy/dockerfile.test.ts lints this file and replays its steps without a Docker engine,
# so keep RUN steps relative to WORKDIR and free of anything a plain `sh -c` on the host cannot run.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full install + tsc -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# .npmrc skips onnxruntime-node's CUDA download (the CPU binaries ship inside the package).
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: `prepare` would run tsc before the sources are here; the build runs below.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies only, non-root ---------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# HOST/PORT: listen on every interface, on $PORT (Cloud Run and Knative set it; 8080 otherwise).
# The drain timeout stays under the 10 s that `docker stop` and Cloud Run allow after SIGTERM.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    MODELSERVE_DRAIN_TIMEOUT_MS=8000
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Production dependencies only; drop onnxruntime's macOS/Windows binaries (~220 MB) we never load.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32
COPY bin ./bin
COPY --from=build /src/dist/src ./dist/src
# The gRPC service definitions, read at runtime (src/grpc/proto.ts).
COPY proto ./proto
# The model repository served by default (one subfolder per model). Override at build time with
# --build-arg MODEL_REPO=<folder in the build context>, or at run time by mounting over /app/models.
ARG MODEL_REPO=examples
COPY ${MODEL_REPO} ./models

# uid/gid 1000 is the `node` user of the base image; numeric so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# Cloud Run and Knative set $PORT (8080 by default); the server listens on $PORT.
# (Open Inference Protocol gRPC listens on --grpc-port, 8001 by default; not EXPOSEd: platforms
# that route one port (Cloud Run, Knative) reach the HTTP one.)
EXPOSE 8080
# Healthy = models loaded and warmed up (/readyz). The slim image has no curl; Node 20 has fetch.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM: /readyz turns 503, the listener closes, in-flight requests drain (MODELSERVE_DRAIN_TIMEOUT_MS), exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/modelserve.js"]
CMD ["serve", "/app/models", "--host", "0.0.0.0"]
