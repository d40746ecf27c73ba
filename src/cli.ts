import { Command, CommanderError, Option } from 'commander';
import { UserError, errorMessage, isOutputError, isUserError } from './common/errors.js';
import { runCommand, type RunCliOptions } from './daemon/run-command.js';
import { alignCommand, type AlignCliOptions } from './daemon/align-command.js';
import { statusCommand, type StatusCliOptions } from './daemon/status-command.js';
import { benchCommand, type BenchCliOptions } from './daemon/bench-command.js';
import { collectCommand, type CollectCliOptions } from './daemon/collect-command.js';
import { packageVersion } from './daemon/version.js';
import { reportCommand, type ReportCliOptions } from './daemon/report-command.js';
import { RunArtifacts } from './outputs/artifacts.js';
import { armedFailpoints, loadFailpoints } from './common/failpoints.js';
import { releaseHeldSignals } from './common/held-signals.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function commonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML configuration (default: configs/realtime_config.yaml of the package)')
    .option('-s, --set <key=value>', 'override one configuration key (repeatable)', collect, [] as string[])
    .option(
      '--source <source>',
      'synthetic | replay:FILE | ads1299 | ads1299-sim | i2c | i2c-sim (overrides input.source)',
    )
    .option('--duration <seconds>', 'stop after this many seconds of signal (overrides input.duration_s)')
    .option('--speed <x>', 'replay pace: 1 real time, N faster, 0 as fast as possible (overrides input.speed)')
    .option(
      '--artifacts <dir>',
      "write this run's artifacts into DIR (default: a new run folder under outputs.artifacts_root)",
    )
    .option('--poses-out <file>', 'write every pose as a JSON line to FILE (overrides outputs.poses_out)');
}

function buildProgram(): Command {
  const program = new Command('myostream')
    .description('16-channel sEMG → hand joint angles, live (exact and 50 Hz streaming modes)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  // Only `run` reloads on SIGHUP (it takes the signal held since start); any other command
  // meets it with Node's default, as before the hold.
  program.hook('preAction', (_program, action) => {
    if (action.name() !== 'run') releaseHeldSignals();
  });
  commonOptions(program.command('run').description('run the pipeline: source → model → poses (the main job)'))
    .addOption(new Option('--quiet', 'no live status line'))
    .action(async (o: RunCliOptions) => {
      process.exitCode = await runCommand(o);
    });
  commonOptions(
    program
      .command('align')
      .description('alignment regression: exact vs streaming (reset per block) on the same signal'),
  ).action(async (o: AlignCliOptions) => {
    process.exitCode = await alignCommand(o);
  });
  program
    .command('bench')
    .description('T_compute of the window and incremental encoder paths, side by side in one process')
    .option('-c, --config <file>', 'YAML configuration (default: configs/realtime_config.yaml of the package)')
    .option('-s, --set <key=value>', 'override one configuration key (repeatable)', collect, [] as string[])
    .option('--json', 'last stdout line: one JSON object with both paths and the ratio')
    .option('--steps <n>', 'timed steps per path after warm-up (default 2000)')
    .option('--alternate <n>', 'steps each path runs before the other takes over (default 200; 1 = strict alternation)')
    .addOption(
      new Option('--policy <policy>', 'feature policy of both paths').choices(['sliding_window', 'exact_grid']),
    )
    .option('--out <file>', 'results file (default: under the artifacts root)')
    .option('--no-torch', 'skip timing the PyTorch reference even where python3 and torch exist')
    .option(
      '--streams-per-core',
      'also count the bands one core carries at 50 Hz with P99 under 10 ms, fp32 and int8 (paced: about a minute)',
    )
    .action(async (o: Omit<BenchCliOptions, 'json'> & { json?: boolean }) => {
      process.exitCode = await benchCommand({ ...o, json: o.json === true });
    });
  program
    .command('status')
    .description("the newest run's verdict, mode and latency (from its artifacts)")
    .option('-c, --config <file>', 'YAML configuration (for outputs.artifacts_root)')
    .option('-s, --set <key=value>', 'override one configuration key (repeatable)', collect, [] as string[])
    .option('--artifacts <dir>', 'a run folder to read instead of the newest')
    .option('--json', 'one JSON object instead of text')
    .action((o: StatusCliOptions) => {
      process.exitCode = statusCommand(o);
    });
  program
    .command('collect')
    .description('pack runs, their config snapshots and the journal of the same span into one tar.gz')
    .argument('[runs...]', 'run folders (names under the runs root, or paths); default: the newest run')
    .option('--since <time>', 'every run active since TIME (2026-12-01T20:00Z) or for the last AGE (30m, 2h, 3d)')
    .option('-o, --output <file>', 'the archive (default: ./myostream-collect-<host>-<time>.tar.gz)')
    .option('--unit <name>', 'systemd unit whose journal to excerpt', 'myostream')
    .option('-c, --config <file>', 'YAML configuration (for outputs.artifacts_root)')
    .option('-s, --set <key=value>', 'override one configuration key (repeatable)', collect, [] as string[])
    .option('--artifacts <dir>', 'the runs root to read instead of the configured one')
    .action((runs: string[], o: CollectCliOptions) => {
      if (runs.length > 0 && o.since !== undefined)
        throw new UserError('collect: give run folders or --since, not both');
      process.exitCode = collectCommand(o, runs);
    });
  program
    .command('report [run]')
    .description('one self-contained HTML page of a run (default: the newest): latency, errors, memory, events')
    .option('-c, --config <file>', 'YAML configuration (for outputs.artifacts_root)')
    .option('-s, --set <key=value>', 'override one configuration key (repeatable)', collect, [] as string[])
    .option('--out <file>', 'write the page here instead of RUN/report.html')
    .option('--max-points <n>', 'points per time series before min/max decimation (default 4000)')
    .action((run: string | undefined, o: ReportCliOptions) => {
      process.exitCode = reportCommand(run, o);
    });
  // --version on the program and on every subcommand.
  const version = packageVersion();
  for (const c of [program, ...program.commands]) c.version(version, '-V, --version', 'print the version and exit');
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    loadFailpoints(process.env['MYOSTREAM_FAILPOINTS']);
    const armed = armedFailpoints();
    if (armed.length > 0)
      process.stderr.write(`myostream: failpoints armed by MYOSTREAM_FAILPOINTS: ${armed.join(', ')}\n`);
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its one-line message; help and version are not failures.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help'
        ? 0
        : 2;
    }
    if (isUserError(e)) {
      process.stderr.write(`myostream: ${e.message}\n`);
      RunArtifacts.recordExit(2, e.message);
      return 2;
    }
    if (isOutputError(e)) {
      // An output the run could not contain failed: one line naming the file, not a stack.
      process.stderr.write(`myostream: output failed: ${e.message}\n`);
      RunArtifacts.recordExit(1, `output failed: ${e.message}`);
      return 1;
    }
    process.stderr.write(`myostream: internal error: ${errorMessage(e)}\n`);
    RunArtifacts.recordExit(1, `internal error: ${errorMessage(e)}`);
    if (process.env['MYOSTREAM_DEBUG']) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);

/**
 * The command has ended; the process ends with it. A plug-in that failed to stop (its server or
 * timer never closed) would otherwise hold the event loop open and the service would hang after
 * "run finished" until systemd kills it. The timer is unref'd: a process that drains on its own
 * exits as before, without waiting for it.
 */
const EXIT_GRACE_MS = 10_000;
setTimeout(() => {
  const holders = [...new Set(process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap'))].join(', ');
  process.stderr.write(
    `myostream: the command has ended but ${holders || 'something'} still held the process after ${EXIT_GRACE_MS / 1000} s (a part that failed to stop); exiting with ${String(process.exitCode ?? 0)}\n`,
  );
  process.exit();
}, EXIT_GRACE_MS).unref();
