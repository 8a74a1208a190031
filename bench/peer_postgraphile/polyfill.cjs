// Copied from the PostGraphile peer setup used for the side-by-side measurements (unchanged but for this line).
// PostGraphile 5.1 declares node >=22; Node 20 lacks only Promise.withResolvers (ES2024).
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}
