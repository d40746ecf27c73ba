/**
 * Time to the first pose, measured in a fresh process the way `myostream run` starts: the same
 * module graph (run-command and everything it imports), the same configuration, model loading
 * (openModels: digest check or cache, session creation), source and streaming predictor, up to
 * the first pose handed out. Times are performance.now() stamps, i.e. milliseconds since this
 * process started (Node's time origin), so they include Node's own start-up and every import.
 * Prints one JSON line; `myostream bench` runs it as a child (twice: the first run may have to
 * hash the models, the second shows a start with a warm digest cache).
 *
 * Usage: node dist/src/daemon/first-pose-probe.js [--config FILE] [--set key=value]…
 */
import { silentLogger } from '../common/logger.js';
import { configFromCli, openModels } from './bootstrap.js';
// run's own module graph: its import cost belongs to the time to the first pose.
import './run-command.js';
import { createSource } from '../acquisition/sources.js';
import { createRings, runPipeline } from './pipeline.js';
import { buildStreaming } from './predictors.js';
import { isUserError, errorMessage } from '../common/errors.js';

const importsMs = performance.now();

async function main(argv: readonly string[]): Promise<void> {
  const set: string[] = [];
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--set') set.push(argv[++i] ?? '');
    else if (argv[i] === '--config') config = argv[++i];
  }
  const cfg = configFromCli({
    ...(config !== undefined ? { config } : {}),
    set: [...set, 'input.speed=0', 'model.mode=streaming'],
  });
  const configMs = performance.now();
  const log = silentLogger();
  const models = await openModels(cfg, log, true);
  const modelsMs = performance.now();
  const source = await createSource(cfg, log);
  const sourceMs = performance.now();
  const rings = createRings(source, cfg.runtime.streaming.max_buffer_seconds);
  const predictor = buildStreaming(cfg, models);
  const stop = new AbortController();
  let firstPoseMs = NaN;
  let rssAtFirstPose = NaN;
  await runPipeline({
    source,
    predictor,
    log,
    rings,
    ringSeconds: cfg.runtime.streaming.max_buffer_seconds,
    signal: stop.signal,
    hooks: {
      onPose: () => {
        if (Number.isNaN(firstPoseMs)) {
          firstPoseMs = performance.now();
          rssAtFirstPose = process.memoryUsage().rss;
          stop.abort();
        }
      },
    },
  });
  const r = (x: number): number => Math.round(x * 10) / 10;
  process.stdout.write(
    JSON.stringify({
      imports_ms: r(importsMs),
      config_ms: r(configMs),
      models_ms: r(modelsMs),
      source_ms: r(sourceMs),
      first_pose_ms: r(firstPoseMs),
      model_load_ms: r(modelsMs - configMs),
      digests: models.digests,
      // Resident memory at the first pose: the loaded graphs (model.precision decides which) and the rest.
      rss_mb: r(rssAtFirstPose / 2 ** 20),
      precision: cfg.model.precision,
      source: source.info.description,
    }) + '\n',
  );
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`first-pose probe: ${isUserError(e) ? errorMessage(e) : String((e as Error).stack ?? e)}\n`);
    process.exit(2);
  },
);
