// What the live view costs the 50 Hz loop: the pose listener (a copy into the channel) and one
// frame sent to two viewers, each averaged over many calls. `npm run build` first.
//   node scripts/live-view-cost.mjs [--poses N (200000)] [--frames M (5000)]
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { LiveViewServer } from '../dist/src/outputs/live-view-server.js';
import { liveViewSchema } from '../dist/src/outputs/live-view-settings.js';
import { JOINT_NAMES } from '../dist/src/domain/geometry.js';
import { newPoseEvent } from '../dist/src/domain/pose.js';

let opt;
try {
  opt = parseArgs({
    options: { poses: { type: 'string', default: '200000' }, frames: { type: 'string', default: '5000' } },
  }).values;
} catch (e) {
  console.error(`live-view-cost: ${e.message}`);
  process.exit(2);
}
for (const k of ['poses', 'frames']) {
  if (!(Number.isInteger(Number(opt[k])) && Number(opt[k]) > 0)) {
    console.error(`live-view-cost: --${k} must be an integer > 0, got ${opt[k]}`);
    process.exit(2);
  }
}
const s = new LiveViewServer(liveViewSchema.parse({ port: 0, rate_hz: 1 }));
const url = await s.listen();
const ch = s.addStream('main', JOINT_NAMES);
for (let k = 0; k < 2; k++) request(new URL('/events', url), (res) => res.resume()).end();
while (s.viewerCount < 2) await new Promise((r) => setTimeout(r, 10));
const e = newPoseEvent(
  'streaming',
  new Float32Array(20).map((_, i) => Math.sin(i)),
);
for (let i = 0; i < 1000; i++) ch.pose(e);
const N = Number(opt.poses);
let t0 = performance.now();
for (let i = 0; i < N; i++) {
  e.step = i;
  ch.pose(e);
}
const poseNs = ((performance.now() - t0) / N) * 1e6;
const M = Number(opt.frames);
t0 = performance.now();
for (let i = 0; i < M; i++) {
  ch.pose(e);
  s.flush();
  if (i % 50 === 0) await new Promise((r) => setImmediate(r));
}
const frameUs = ((performance.now() - t0) / M) * 1e3;
console.log(
  JSON.stringify({
    pose_listener_ns: Number(poseNs.toFixed(1)),
    frame_to_2_viewers_us: Number(frameUs.toFixed(1)),
    counts: ch.counts,
  }),
);
await s.close();
