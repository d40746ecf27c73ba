// The watchdog's judges, one file each; WatchdogPlugin (watchdog-plugin.ts) feeds them from the bus.
export * from './verdict.js';
export * from './latency-drift.js';
export * from './return-probe.js';
export * from './memory-drift.js';
export * from './numerical-drift.js';
