import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { metered, TransferMeter } from './transfer-meter.ts';

describe('TransferMeter', () => {
  it('sums the bytes of every request and counts overlapping time in flight once', async () => {
    const meter = new TransferMeter();
    const a = meter.begin();
    const b = meter.begin();
    await sleep(40);
    a({ sent: 100, received: 1 });
    b({ sent: 50, received: 2 });
    b({ sent: 999, received: 999 }); // a second end of one request counts nothing
    const f = meter.figures();
    assert.equal(f.sent, 150);
    assert.equal(f.received, 3);
    assert.ok(f.ms >= 35 && f.ms < 70, `in flight ${f.ms} ms, once though two requests overlapped`);
    await sleep(30);
    assert.equal(meter.figures().ms, f.ms, 'idle time is not counted');
  });

  it("adds a run's transfer in its direction to its result", async () => {
    const result = await metered(async (meter) => {
      meter.begin()({ sent: 10, received: 20 });
      return { files: 1 };
    }, 'received');
    assert.equal(result.files, 1);
    assert.equal(result.transfer.bytes, 20);
  });
});
