# syntax=docker/dockerfile:1
# mesh-admission: the admission webhook server (node dist/cli/main.js serve).
#
#   docker build -t mesh-admission:latest .
#
# Base: Node.js 24 LTS ("Krypton", maintenance LTS until 2028-04-30) on Debian 13 "trixie" slim. Pinned to a major so
# rebuilds pick up patch releases and Debian security updates but never a new major; bump NODE_IMAGE deliberately
# (e.g. to node:26-trixie-slim, active LTS since 2026-10) after running the test suite on it. The slim Debian image keeps
# /bin/sleep, which the Deployment's preStop hook runs.
ARG NODE_IMAGE=node:24-trixie-slim

# ---- build: compile TypeScript to dist/ -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` script runs the build, which needs the sources copied below
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no TypeScript, vitest, tsx in the image. --ignore-scripts: `prepare` would run tsc, a devDependency; no
# production dependency needs an install script (re2-wasm is WebAssembly, nothing native is compiled).
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Everything under /app is owned by root and read-only to the server: it runs with a read-only root filesystem and
# writes only to mounted directories (the Deployment mounts an emptyDir on /tmp and points --certs-dir and
# --secrets-dir there; in-cluster the certificates and bootstrap Secrets live in the API anyway). The default command
# (standalone `serve`) cannot make ./certs here: it falls back to $TMPDIR (or /tmp) and says so, or, with nothing
# writable there either, stops at once naming --certs-dir (test/server/nonroot.test.ts runs it so).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# A numeric, non-root user (the distroless "nonroot" UID), so runAsNonRoot can be verified by the kubelet.
USER 65532:65532
EXPOSE 9443 9091
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
