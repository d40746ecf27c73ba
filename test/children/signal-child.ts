// A process that installs the daemon's signal handlers and reports on stdout what they did, so
// the test can send it real signals. Finalising waits for "finish" on stdin (a long
// finalisation during which more signals arrive), then exits 0.
import inspector from 'node:inspector';
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/common/logger.js';
import { installSignalHandlers } from '../../src/daemon/signals.js';

const say = (s: string): void => void process.stdout.write(s + '\n');
const withHandlers = process.argv[2] !== 'bare';
const log = createLogger('info', 'json', process.stderr);
let reloads = 0;
const keepAlive = setInterval(() => {}, 1 << 30);
if (withHandlers) {
  installSignalHandlers({
    log,
    finalise(sig) {
      say(`finalise ${sig}`);
    },
    async reload() {
      reloads++;
      await new Promise((r) => setTimeout(r, 5));
      say(`reloaded ${reloads}`);
      if (reloads === 2) throw new Error('bad config on the second reload');
    },
  });
}
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'finish') {
    clearInterval(keepAlive);
    say('finalised');
    process.exitCode = 0;
    process.stdin.destroy();
  } else if (l === 'inspector?') {
    say(`inspector ${inspector.url() ?? 'none'}`);
  }
});
say('ready');
