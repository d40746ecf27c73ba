import ort from 'onnxruntime-node';

/**
 * The memory-bandwidth floor of a weight-bound step: one matrix-vector product over as many
 * fp32 bytes as the step's weights, run by onnxruntime's own MatMul kernel in the same process
 * and with the same thread settings. A JavaScript Float32Array loop would measure V8's scalar
 * arithmetic (a few GFLOP/s), not the memory system, and would understate the floor; a
 * product of [rows, cols] × [cols, 1] streams the matrix once through the same vectorised
 * kernels the graphs use.
 *
 * The graph is one MatMul node with both operands as inputs (no weights in the file), written
 * here as ONNX protobuf bytes, so no model file is needed.
 */
export function matVecGraph(): Uint8Array {
  const bytes: number[] = [];
  const varint = (out: number[], v: number): void => {
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  const field = (out: number[], no: number, wire: number): void => varint(out, no * 8 + wire);
  const int = (out: number[], no: number, v: number): void => {
    field(out, no, 0);
    varint(out, v);
  };
  const msg = (out: number[], no: number, body: number[]): void => {
    field(out, no, 2);
    varint(out, body.length);
    out.push(...body);
  };
  const str = (out: number[], no: number, s: string): void => msg(out, no, [...Buffer.from(s, 'utf8')]);
  const valueInfo = (name: string, dims: string[]): number[] => {
    const shape: number[] = [];
    for (const d of dims) {
      const dim: number[] = [];
      str(dim, 2, d); // Dimension.dim_param
      msg(shape, 1, dim);
    }
    const tensor: number[] = [];
    int(tensor, 1, 1); // elem_type FLOAT
    msg(tensor, 2, shape);
    const type: number[] = [];
    msg(type, 1, tensor);
    const vi: number[] = [];
    str(vi, 1, name);
    msg(vi, 2, type);
    return vi;
  };
  const node: number[] = [];
  str(node, 1, 'w');
  str(node, 1, 'x');
  str(node, 2, 'y');
  str(node, 4, 'MatMul');
  const graph: number[] = [];
  msg(graph, 1, node);
  str(graph, 2, 'matvec');
  msg(graph, 11, valueInfo('w', ['rows', 'cols']));
  msg(graph, 11, valueInfo('x', ['cols', 'one']));
  msg(graph, 12, valueInfo('y', ['rows', 'one']));
  const opset: number[] = [];
  str(opset, 1, '');
  int(opset, 2, 17);
  int(bytes, 1, 8); // ir_version
  msg(bytes, 8, opset);
  msg(bytes, 7, graph);
  return Uint8Array.from(bytes);
}

export interface BandwidthFloor {
  session: ort.InferenceSession;
  bytes: number;
  run(): Promise<number>;
}

/** A matrix-vector product over `bytes` bytes of fp32 (rounded to whole 512-wide rows); run() returns ms. */
export async function bandwidthFloor(
  bytes: number,
  intraOpThreads: number,
  intraOpSpinning: boolean,
): Promise<BandwidthFloor> {
  const cols = 512;
  const rows = Math.max(1, Math.round(bytes / 4 / cols));
  const session = await ort.InferenceSession.create(matVecGraph(), {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: intraOpSpinning ? '1' : '0' } } },
  });
  const w = new Float32Array(rows * cols);
  let seed = 7;
  for (let i = 0; i < w.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    w[i] = seed / 0x1_0000_0000 - 0.5;
  }
  const x = new Float32Array(cols).fill(0.5);
  const y = new Float32Array(rows);
  const feeds = { w: new ort.Tensor('float32', w, [rows, cols]), x: new ort.Tensor('float32', x, [cols, 1]) };
  const fetches = { y: new ort.Tensor('float32', y, [rows, 1]) };
  return {
    session,
    bytes: rows * cols * 4,
    async run(): Promise<number> {
      const t0 = performance.now();
      await session.run(feeds, fetches);
      return performance.now() - t0;
    },
  };
}
