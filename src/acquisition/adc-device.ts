import type { z } from 'zod';
import type { FrameSink, WorkerDevice } from './device.js';
import type { SourceContext } from './source.js';
import type { WorkerCommonConfig } from './worker-config.js';

/**
 * An ADC as one row of ADC_DEVICES (adc-devices.ts): its settings under `acquisition.<key>`,
 * the sources `--source <key>` and `--source <key>-sim`, and the module the acquisition worker
 * opens it with. The worker, the source table and the configuration schema all read that table,
 * so an ADC is its own files plus one row.
 */
export interface AdcDevice<
  Key extends string = string,
  Settings extends z.ZodType = z.ZodType,
  W extends WorkerCommonConfig = WorkerCommonConfig,
> {
  readonly key: Key;
  /** The ADC as messages name it (ADS1299, I2C ADC). */
  readonly label: string;
  readonly settings: Settings;
  /** Whether `--source <key>` (without -sim) runs the simulator: the settings' own switch. */
  simulates(own: z.infer<Settings>): boolean;
  /**
   * On the main thread, before the models load: checks what the driver will need (device
   * nodes, tools, bus bandwidth; a UserError names what is wrong) and returns the worker's
   * configuration as plain data (it crosses the thread boundary).
   */
  prepare(own: z.infer<Settings>, ctx: SourceContext, simulate: boolean): W;
  /**
   * On the worker thread: opens the bus and lines (or the simulator) with the driver on top.
   * `cfg` is what this row's `prepare` returned; `epoch` counts re-initialisations so far.
   */
  open(cfg: W, epoch: number, sink: FrameSink): Promise<WorkerDevice>;
}
