#!/usr/bin/env node
// The cost per data-ready edge of each ADC driver's edge path (edge-driver.ts and the driver's
// read/decode), on a bare bus that answers at once and a sink that does nothing: what the
// drivers add to every sample, without the bus. Median of 7 rounds of 1e6 edges.
//   npm run build && node scripts/driver-edge-cost.mjs [CHECKOUT]   (this checkout by default;
//   another built checkout's root to compare)
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
const root = pathToFileURL(resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)))).href.replace(/\/$/, '');
const { Ads1299Driver } = await import(`${root}/dist/src/acquisition/ads1299/driver.js`);
const { I2cAdcDriver } = await import(`${root}/dist/src/acquisition/i2c/driver.js`);
const { VirtualClock } = await import(`${root}/dist/src/acquisition/clock.js`);
const regs = new Uint8Array(32); regs[0] = 0x3e;
const frame = new Uint8Array(54); frame[0] = 0xc0; frame[27] = 0xc0;
const bus = { name: 'bare', clockHz: 4_000_000, mode: 1, close() {}, transfer(tx, rx = new Uint8Array(tx.length)) {
  if (tx.length === 54) rx.set(frame); else if ((tx[0] & 0xe0) === 0x20) rx[2] = regs[tx[0] & 0x1f]; else if ((tx[0] & 0xe0) === 0x40) regs[tx[0] & 0x1f] = tx[2]; return rx; } };
function line() { const l = { name: 'bare', kernelTimestamps: true, h: undefined, async start(h) { l.h = h; }, stop() {} }; return l; }
const sink = { frame() {}, lost() {} };
/** `make` builds the driver (and sets it up where the bare bus allows); then 7 × 1e6 edges, 1 ms apart. */
async function bench(name, make) {
  const clock = new VirtualClock(0); const l = line();
  const d = make(clock, l); await d.start(() => {});
  const h = l.h; const N = 1_000_000; const res = []; let t = 10;
  for (let r = 0; r < 7; r++) { const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) { t += 1; clock.advanceTo(t); h(t); } res.push(Number(process.hrtime.bigint() - t0) / N); }
  res.sort((a, b) => a - b); console.log(`${name}: ${res[3].toFixed(1)} ns/edge (median of 7 × 1e6; delivered ${d.stats.framesDelivered})`);
}
const opts = { topology: 'daisy', sampleRate: 1000, gains: Array(16).fill(24), vref: 4.5, reference: 'srb1', biasDrive: true, channelMap: [...Array(16).keys()], lateMarginMs: 0.025, maxConsecutiveBadFrames: 2000 };
await bench('ads1299', (c, l) => {
  const d = new Ads1299Driver([bus], l, c, opts, sink);
  d.configure();
  return d;
});
const transport = { busName: 'bare', writeRegister() {}, readRegister(r) { return r === 0x4f ? 0xa7 : 0; }, readSample(out) { for (let i = 0; i < out.length; i++) out[i] = i; }, close() {} };
// The I2C driver starts without set-up: the bare transport answers no register read-back.
await bench('i2c', (c, l) => new I2cAdcDriver(transport, l, c, { address: 0x48, busHz: 1e6, dataRegister: 0, channels: 16, bitsPerSample: 16, sampleRate: 1000, gain: 32, vref: 2.5, lateMarginMs: 0.025, maxConsecutiveErrors: 40 }, sink));
