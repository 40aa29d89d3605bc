// placeholder, filled in by the rng kernel work
export const _rng_ready: i32 = 0;
