# modelserve container image.
#
#   docker build -t modelserve .                                     # bakes examples/ into /app/models
#   docker build --build-arg MODEL_REPO=my-models -t my-service .    # bakes your own repository
#   docker run --rm -p 8080:8080 modelserve                          # POST http://localhost:8080/predict
#   docker run --rm -p 8080:8080 -v "$PWD/my-models:/app/models:ro" modelserve   # mount one instead
#   docker run --rm --read-only --tmpfs /tmp -p 8080:8080 modelserve            # read-only root filesystem
#
# Plain Dockerfile syntax (no `# syntax=` line, no RUN --mount): it builds with BuildKit's built-in
# frontend and with the legacy builder, without pulling anything but the base image.
# The base is Debian (glibc): onnxruntime-node ships glibc binaries and does not run on musl/Alpine.
#
# Stages: `build` compiles the TypeScript; `deps` installs the production dependencies and removes
# what the server never loads; `os` is the base image without npm/corepack/yarn; the final stage is
# FROM scratch so that the files removed from the base are really gone (a later `rm` layer would not
# shrink the image), and holds only `os`, the dependencies, the compiled JS and a model repository.
# Tests: test/container/ builds and runs this with a real engine (npm run test:container);
# test/deploy/dockerfile.test.ts lints it and replays its steps without one, so keep RUN steps
# relative to WORKDIR and free of anything a plain `sh -c` on the host cannot run.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: full install + tsc -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
COPY deploy/docker/verify-install.sh ./deploy/docker/
# --ignore-scripts: `prepare` would run tsc before the sources are here (the build runs below), and
# onnxruntime-node's postinstall would download CUDA libraries. verify-install.sh fails the build
# when npm exits 0 without installing (npm 10 behind a TLS-intercepting proxy can).
RUN npm ci --ignore-scripts --no-audit --no-fund && sh deploy/docker/verify-install.sh
COPY tsconfig.json ./
COPY src ./src
# The build's second step precompiles the model config schema (ajv standalone code).
COPY scripts/build-config-validator.mjs ./scripts/
RUN npm run build

# ---- deps: production dependencies, only what the server loads -----------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY deploy/docker/verify-install.sh deploy/docker/prune-node-modules.sh ./deploy/docker/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && sh deploy/docker/verify-install.sh --omit=dev \
 && sh deploy/docker/prune-node-modules.sh

# ---- os: the base image without the package managers (npm ~17 MB, corepack, yarn) ----------------
FROM ${NODE_IMAGE} AS os
WORKDIR /
RUN rm -rf usr/local/lib/node_modules usr/local/bin/npm usr/local/bin/npx usr/local/bin/corepack \
           usr/local/bin/yarn usr/local/bin/yarnpkg opt/yarn-v* usr/local/include

# ---- runtime ---------------------------------------------------------------------------------------
FROM scratch AS runtime
COPY --from=os / /
# HOST/PORT: listen on every interface, on $PORT (Cloud Run and Knative set it; 8080 otherwise).
# The drain timeout stays under the 10 s that `docker stop` and Cloud Run allow after SIGTERM.
# Defaults as variables, not as CMD flags: a flag beats its variable, so `docker run -e HOST=…`
# (or -e MODELSERVE_MODEL_REPO=…) would be silently ignored.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    MODELSERVE_MODEL_REPO=/app/models \
    MODELSERVE_DRAIN_TIMEOUT_MS=8000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin/modelserve.js ./bin/
COPY deploy/docker/healthcheck.sh ./
COPY --from=build /src/dist/src ./dist/src
# The gRPC service definitions, read at runtime (src/grpc/proto.ts).
COPY proto ./proto
# The model repository served by default (one subfolder per model). Override at build time with
# --build-arg MODEL_REPO=<folder in the build context>, or at run time by mounting over /app/models.
ARG MODEL_REPO=examples
COPY ${MODEL_REPO} ./models

# uid/gid 1000 is the `node` user of the base image; numeric so that Kubernetes' runAsNonRoot can check it.
# Nothing is written under /app: the root filesystem can be read-only (give /tmp a tmpfs).
USER 1000:1000
# Cloud Run and Knative set $PORT (8080 by default); the server listens on $PORT.
# (Open Inference Protocol gRPC listens on --grpc-port, 8001 by default; not EXPOSEd: platforms
# that route one port (Cloud Run, Knative) reach the HTTP one.)
EXPOSE 8080
# Healthy = models loaded and warmed up (/readyz). The probe is bash talking HTTP over /dev/tcp: no
# process heavier than a shell starts in the container's CPU quota (a `node -e fetch()` probe took
# 1.3-2.5 s at full load). It reads $HOST and $PORT, so it follows `-e HOST=<one address>`, `-e PORT=...`.
# Start period = the 2 min the startup probes in deploy/ (Kubernetes, Knative, KServe) give the
# models to load and warm up: the examples are ready 2-6 s after `docker run` (measured by
# test/container/image.test.ts on 2 shared cores), a large model is not, and a
# shorter period marked such a container unhealthy (Swarm replaced it) where Kubernetes waits.
# A check that passes within the period marks it healthy at once.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD ["bash", "/app/healthcheck.sh"]
# SIGTERM: /readyz turns 503, the listener closes, in-flight requests drain (MODELSERVE_DRAIN_TIMEOUT_MS), exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/modelserve.js"]
# Every setting from the environment (HOST, PORT, MODELSERVE_MODEL_REPO, …: see `serve --help`).
CMD ["serve"]
