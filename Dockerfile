# The training container (cdk/constructs/training.ts): one (group, seed) training per task.
# The state machine sets RUN, GROUP and SEED; the stack sets BAYESAMP_BUCKET and BAYESAMP_PREFIX.
# Same code as a local run: the TypeScript sources run through tsx, the WASM core is built here.
FROM node:22-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, a layer that stays cached while package*.json do not change. `npm ci` runs
# the `prepare` script, which compiles wasm/assembly, hence wasm/ in this layer. .npmrc skips
# onnxruntime-node's optional CUDA download.
COPY package.json package-lock.json .npmrc ./
COPY wasm ./wasm
RUN npm ci --omit=dev --no-audit --no-fund

COPY . .
RUN npm run build

USER node
# functions/train.ts is the container's main module: it reads its job from the environment.
CMD ["node", "--import", "tsx", "functions/train.ts"]
