// placeholder, filled in by the binning kernel work
export const _binning_ready: i32 = 0;
