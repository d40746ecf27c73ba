#!/usr/bin/env node
// The entry imports nothing heavy before catching SIGHUP: loading the CLI's modules (the ONNX
// runtime among them) takes long enough on a board for a `systemctl reload` to land meanwhile,
// and Node's default for SIGHUP would end the process. The run takes the held signal over.
import { holdSignals } from './common/held-signals.js';

holdSignals();
await import('./cli.js');
