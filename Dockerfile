# The operator image: `docker build -t capture-drain-operator:0.1.0 .`
# Build stage: all dependencies (TypeScript is a devDependency) and tsc -> dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm ci`: exactly the committed lock, as `make install` does; --ignore-scripts: no install script
# is needed to compile.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY operator ./operator
COPY e2e ./e2e
RUN ./node_modules/.bin/tsc -p tsconfig.json

# Runtime stage: Node 24 and production dependencies only (no TypeScript, jest, or the `node`
# devDependency that pins the toolchain for development).
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
# The CLI and what it loads: the operator only (the TiCDC simulator runs from a checkout).
COPY --from=build /src/dist/operator/src ./dist/operator/src
# Same non-root user as the chart's securityContext (runAsUser 65532); the files stay root-owned
# and read-only to it.
USER 65532:65532
EXPOSE 8080 9443
# Node flags: operator/src/node-flags.ts (a bounded young generation keeps RSS flat under load).
ENTRYPOINT ["node", "--max-semi-space-size=16", "--heap-growing-percent=30", "dist/operator/src/cli.js", "operator"]
