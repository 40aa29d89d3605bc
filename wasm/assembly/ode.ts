// placeholder, filled in by the ode kernel work
export const _ode_ready: i32 = 0;
