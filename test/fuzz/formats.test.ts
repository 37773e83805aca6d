// Fuzzing the stored and streamed binary formats (issue 13 item 8): packs (whole, streamed, by
// their tail), sealed blobs and their compressed payloads, the blobs answer's frames, trees,
// snapshot records and refs lists. Each returns or throws a CairnError within 100 ms on any input
// up to 64 KiB, and a length field of 2^31 is refused before anything that size is allocated.
import assert from 'node:assert/strict';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { FrameParser } from '../../src/agent/blob-frames.ts';
import { BLOB_DATA, BLOB_SNAPSHOT, BLOB_TREE, openBlob, sealBlob } from '../../src/core/blob.ts';
import { decompress, FLAG_RAW, FLAG_ZSTD } from '../../src/core/compress.ts';
import { isCairnError } from '../../src/core/errors.ts';
import { chunkId, generateVaultKeys } from '../../src/core/keys.ts';
import { PackBuilder, packIndexLength, parsePackTail } from '../../src/core/pack.ts';
import { PackVerifier, parsePack } from '../../src/core/pack-verifier.ts';
import { decodeRefs, decodeSnapshot, encodeRefs, encodeSnapshot, newSnapshotId } from '../../src/core/snapshot.ts';
import { decodeTree, encodeTree, type TreeNode } from '../../src/core/tree.ts';
import { blobFrameHeader } from '../../src/protocol/data-plane.ts';
import { bytesInputs, cutsArb, fuzzParser, inPieces, MAX_INPUT_MS, parsesOrRefuses } from './fuzz-kit.ts';

const keys = generateVaultKeys();
const TWO_31 = 2 ** 31;

/** Valid packs of a few small sealed blobs (storage never opens them; the version byte must be 1). */
function validPacks(): Buffer[] {
  return [0, 1, 3].map((count) => {
    const builder = new PackBuilder();
    for (let i = 0; i < count; i++) {
      const plain = cryptoRandom(40 + i * 30);
      const id = chunkId(keys, plain);
      builder.add(BLOB_DATA, id, sealBlob(keys, BLOB_DATA, id, plain));
    }
    return Buffer.concat(builder.finish().buffers);
  });
}

function sampleTree(): TreeNode[] {
  const base = { mode: 0o644, uid: 1000, gid: 1000, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: -5n, inode: 2n ** 60n, nlink: 1 };
  return [
    { ...base, name: Buffer.from('file.txt'), type: 'file', size: 3, chunks: [cryptoRandom(32)] },
    { ...base, name: Buffer.from('dir'), type: 'dir', size: 4096, subtree: [cryptoRandom(32)] },
    { ...base, name: Buffer.from('link'), type: 'symlink', size: 4, target: Buffer.from('../x') },
    { ...base, name: Buffer.from('tty'), type: 'chardev', size: 0, rdev: 1025, xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from('v') }] },
  ];
}

function sampleSnapshot(): Buffer {
  return encodeSnapshot({
    version: 1,
    id: newSnapshotId(),
    time: '2025-01-02T03:04:05.678Z',
    host: 'host-1',
    paths: ['/home', '/etc'],
    tree: [cryptoRandom(32).toString('hex')],
    parent: newSnapshotId(),
    summary: { files: 10, dirs: 2, bytes: 12345, filesChanged: 3, bytesRead: 100, bytesNew: 50 },
  });
}

/** A parse of `bytes` that must refuse with a CairnError, fast, without allocating a length-sized buffer. */
function refusesHugeLength(parse: () => unknown, what: string, message = /./): void {
  const before = process.memoryUsage().arrayBuffers;
  const started = performance.now();
  assert.throws(parse, (e) => isCairnError(e) && message.test(e.message), what);
  assert.ok(performance.now() - started < MAX_INPUT_MS, `${what}: too slow`);
  assert.ok(process.memoryUsage().arrayBuffers - before < 256 * 1024 * 1024, `${what}: allocated the claimed length`);
}

describe('fuzzing packs', () => {
  const packs = validPacks();

  it('a whole pack parses or is refused as corrupt', async (t) => {
    await fuzzParser(t, 'parsePack', bytesInputs(packs), (bytes) => parsePack(bytes));
  });

  it('a streamed pack, in any cuts, is checked or refused', async (t) => {
    await fuzzParser(t, 'PackVerifier', fc.tuple(bytesInputs(packs), cutsArb), ([bytes, cuts]) => {
      const verifier = new PackVerifier();
      for (const piece of inPieces(bytes, cuts)) verifier.update(piece);
      return verifier.end();
    });
  });

  it('a pack read by its tail (range reads) parses or is refused', async (t) => {
    const sized = fc.tuple(bytesInputs(packs), fc.integer({ min: -16, max: 16 }));
    await fuzzParser(t, 'parsePackTail', sized, ([bytes, skew]) => {
      packIndexLength(bytes);
      return parsePackTail(bytes, bytes.length + skew);
    });
  });

  it('length fields of 2^31 are refused at once', () => {
    const pack = validPacks()[2]!;
    const entryLength = Buffer.from(pack);
    entryLength.writeUInt32BE(TWO_31, 8 + 4 + 1 + 32); // the first entry's sealed length
    refusesHugeLength(() => parsePack(entryLength), 'entry length');
    refusesHugeLength(() => new PackVerifier().update(entryLength.subarray(0, 60)).update(Buffer.alloc(1000, 1)).end(), 'streamed entry length');
    const footer = Buffer.from(pack);
    footer.writeUInt32BE(TWO_31, footer.length - 12); // the footer's index length
    refusesHugeLength(() => parsePackTail(footer, footer.length), 'footer index length', /index truncated/);
    refusesHugeLength(() => parsePack(footer), 'footer index length, whole');
    const indexCount = Buffer.from(pack);
    const indexAt = indexCount.length - 12 - indexCount.readUInt32BE(indexCount.length - 12);
    indexCount.writeUInt32BE(TWO_31, indexAt + 4);
    refusesHugeLength(() => parsePackTail(indexCount, indexCount.length), 'index count', /index count disagrees with its length/);
    refusesHugeLength(() => parsePack(indexCount), 'index count, whole');
  });
});

describe('fuzzing sealed blobs', () => {
  const plain = Buffer.from('a chunk of text that compresses, a chunk of text that compresses, '.repeat(20));
  const id = chunkId(keys, plain);
  const sealed = [sealBlob(keys, BLOB_DATA, id, plain), sealBlob(keys, BLOB_DATA, id, plain, 3)];

  it('a sealed blob opens or is refused as corrupt', async (t) => {
    const type = fc.constantFrom(BLOB_DATA, BLOB_TREE, BLOB_SNAPSHOT);
    await fuzzParser(t, 'openBlob', fc.tuple(type, bytesInputs(sealed)), ([blobType, bytes]) => openBlob(keys, blobType, id, bytes));
  });

  it('a payload decompresses within its limit or is refused', async (t) => {
    const frames = [zstdCompressSync(plain), zstdCompressSync(Buffer.alloc(50_000)), zstdCompressSync(Buffer.alloc(0))];
    const flag = fc.constantFrom(FLAG_RAW, FLAG_ZSTD, 2, 255);
    await fuzzParser(t, 'decompress', fc.tuple(flag, bytesInputs(frames), fc.constantFrom(undefined, 1024, 1 << 20)), ([f, bytes, max]) =>
      decompress(f, bytes, max),
    );
  });

  it('a zstd frame that claims 2^31 bytes is refused before decompressing', () => {
    const frame = zstdCompressSync(Buffer.alloc(4096), { params: {} });
    // a frame header with a single-segment 8-byte content size of 2^31
    const forged = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0]), Buffer.from([0, 0, 0, 0x80, 0, 0, 0, 0]), frame.subarray(6)]);
    refusesHugeLength(() => decompress(FLAG_ZSTD, forged), 'zstd content size', /blob payload of 2147483648 bytes is larger than/);
  });
});

describe('fuzzing the blobs answer', () => {
  const ids = [cryptoRandom(32), cryptoRandom(32), cryptoRandom(32)];
  const frames = Buffer.concat(ids.flatMap((id, i) => [blobFrameHeader(id, 50 + i), Buffer.alloc(50 + i, i + 1)]));

  it('frames split anywhere are parsed or refused', async (t) => {
    await fuzzParser(t, 'blob frames', fc.tuple(bytesInputs([frames, frames.subarray(0, 86)]), cutsArb), ([bytes, cuts]) => {
      const parser = new FrameParser(ids);
      for (const piece of inPieces(bytes, cuts)) parser.push(piece);
      return parser.ready;
    });
  });

  it('a frame length of 2^31 is refused before allocating', () => {
    const parser = new FrameParser(ids);
    refusesHugeLength(() => parser.push(blobFrameHeader(ids[0]!, TWO_31)), 'blob frame length', /a blob of 2147483648 bytes, more than a pack holds/);
  });
});

describe('fuzzing trees, snapshot records and refs', () => {
  it('a tree decodes or is refused', async (t) => {
    await fuzzParser(t, 'decodeTree', bytesInputs([encodeTree(sampleTree()), encodeTree([])]), (bytes) => decodeTree(bytes));
  });

  it('a snapshot record decodes or is refused', async (t) => {
    await fuzzParser(t, 'decodeSnapshot', bytesInputs([sampleSnapshot()]), (bytes) => decodeSnapshot(bytes));
  });

  it('a refs list decodes or is refused', async (t) => {
    const refs = encodeRefs([cryptoRandom(32), cryptoRandom(32), cryptoRandom(32)]);
    await fuzzParser(t, 'decodeRefs', bytesInputs([refs]), (bytes) => decodeRefs(bytes));
  });

  it('a deeply nested tree or record is refused, not a stack overflow', async () => {
    const deep = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    await parsesOrRefuses(decodeTree, deep);
    await parsesOrRefuses(decodeSnapshot, deep);
  });
});
