# syntax=docker/dockerfile:1
#
# stsguard image: `docker build -t stsguard .`
#
# Node 24 is an LTS line supported until April 2028 and the line the test suite runs on (the
# `node` devDependency). test/deploy/dockerfile.test.ts keeps the two on the same major, so
# bump both together. Every stage uses the same base, so build and runtime share one Node.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle-kube-client.mjs ./scripts/
RUN npm run build

FROM node:24.21.0-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script; --ignore-scripts also keeps lifecycle scripts
# from running at all while the final image's node_modules is assembled.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24.21.0-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="stsguard" \
      org.opencontainers.image.description="Admission webhook and CI checker for per-pod StatefulSet Services" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
# 16 MiB semi-spaces for every command run from the image. Left to itself, V8 grows its young
# generation with the data a process keeps, up to 64 MiB semi-spaces on a large machine: `check`
# over 10,000 objects then peaks ~60% above a bare YAML parse of the same files. 4 MiB is too
# small the other way: a document being parsed outlives it, is promoted, and the old generation
# fills with garbage between collections (`serve --manifests` peaked at 120-180 MiB, run to
# run). At 16 MiB both stay within ~1.25x of the bare parse (docs/benchmarks.md). The webhook's
# own V8 settings (4 MiB semi-spaces, a 128 MiB old generation) are the chart's `nodeOptions`,
# sized with its memory limit: a heap cap here would abort `check` and `audit` on large inputs.
ENV NODE_OPTIONS="--max-semi-space-size=16"
WORKDIR /app
# npm, corepack and yarn are never used at runtime; removing them keeps their bundled
# dependencies out of vulnerability scans of the final filesystem.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
    /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
# Everything stays owned by root and read-only to the process: it only needs /tmp (an emptyDir
# in the chart) and the mounted certificate files, so `readOnlyRootFilesystem: true` works.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Numeric, so the kubelet can verify `runAsNonRoot: true`; 1000 is the image's `node` user.
USER 1000:1000
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["serve"]
