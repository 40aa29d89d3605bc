// placeholder, filled in by the mlp kernel work
export const _mlp_ready: i32 = 0;
