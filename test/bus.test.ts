import assert from 'node:assert/strict';
import test from 'node:test';
import { EventBus } from '../src/domain/bus.js';

interface E {
  a: number;
  b: string;
}

test('the bus delivers in registration order and a throwing listener reaches only the failure handler', () => {
  const failures: string[] = [];
  const bus = new EventBus<E>((owner, event, err) => failures.push(`${owner.name}:${event}:${(err as Error).message}`));
  const seen: string[] = [];
  const one = { name: 'one' };
  const two = { name: 'two' };
  const three = { name: 'three' };
  bus.on(one, 'a', (n) => seen.push(`one ${n}`));
  bus.on(two, 'a', () => {
    throw new Error('boom');
  });
  bus.on(three, 'a', (n) => seen.push(`three ${n}`));
  bus.on(three, 'b', (s) => seen.push(`three ${s}`));
  bus.emit('a', 1);
  bus.emit('b', 'x');
  assert.deepEqual(seen, ['one 1', 'three 1', 'three x']);
  assert.deepEqual(failures, ['two:a:boom']);
});

test('removeListeners drops every listener of an owner, also in the middle of an emit', () => {
  const bus = new EventBus<E>(() => assert.fail('no failure expected'));
  const seen: string[] = [];
  const a = { name: 'a' };
  const b = { name: 'b' };
  // a removes b while the emit that reaches both is in progress: b still gets this event (the
  // list being walked is the one the emit started with) and none after it.
  bus.on(a, 'a', () => {
    seen.push('a');
    bus.removeListeners(b);
  });
  bus.on(b, 'a', () => seen.push('b'));
  bus.on(b, 'b', () => seen.push('b:b'));
  bus.emit('a', 0);
  bus.emit('a', 0);
  bus.emit('b', '');
  assert.deepEqual(seen, ['a', 'b', 'a']);
  assert.equal(bus.listenerCount('a'), 1);
  assert.equal(bus.listenerCount('b'), 0);
});

test('emitting with no listeners, and to a listener added during an emit, is safe', () => {
  const bus = new EventBus<E>(() => undefined);
  bus.emit('a', 1);
  const seen: number[] = [];
  const o = { name: 'o' };
  bus.on(o, 'a', (n) => {
    seen.push(n);
    if (n === 1) bus.on(o, 'a', (m) => seen.push(m * 10));
  });
  bus.emit('a', 1);
  bus.emit('a', 2);
  assert.deepEqual(seen, [1, 2, 20]);
});
