import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStreamParser } from './event-stream.ts';

test('events come out whole however the text is cut, comments skipped', () => {
  const p = new EventStreamParser();
  const text = ': connected\n\nevent: progress\ndata: {"id":3,"bytes":10}\n\n: ping\n\nevent: run\r\ndata: {"id":3,"status":"succeeded"}\r\n\r\n';
  const got = [];
  for (let i = 0; i < text.length; i += 7) got.push(...p.push(text.slice(i, i + 7)));
  assert.deepEqual(got, [
    { type: 'progress', data: { id: 3, bytes: 10 } },
    { type: 'run', data: { id: 3, status: 'succeeded' } },
  ]);
});

test('an event without a type is a message; data that is not JSON is dropped, the stream goes on', () => {
  const p = new EventStreamParser();
  assert.deepEqual(p.push('data: [1,\ndata: 2]\n\nevent: run\ndata: {oops\n\nevent: part\ndata: {"name":"a"}\n\n'), [
    { type: 'message', data: [1, 2] },
    { type: 'part', data: { name: 'a' } },
  ]);
});

test('a frame not yet ended waits for the rest', () => {
  const p = new EventStreamParser();
  assert.deepEqual(p.push('event: run\ndata: {"id":1}\n'), []);
  assert.deepEqual(p.push('\n'), [{ type: 'run', data: { id: 1 } }]);
});
