// The compute core's exports. Each module documents its own kernels.
export { arenaAlloc, arenaMark, arenaReset } from "./memory";
export * from "./mlp";
export * from "./rng";
export * from "./ode";
export * from "./binning";
export * from "./train";
export * from "./vib";
export * from "./flipout";
export * from "./loglik";
