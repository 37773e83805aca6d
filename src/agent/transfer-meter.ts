// What a run moved over the data plane, for the throughput the server records per (agent,
// storage server) pair: the bytes of request bodies sent and of answers received (as the TLS
// sockets count them), and the time at least one request was in flight (overlapping requests
// count once), so a run's time spent scanning or waiting on its own disk is not charged to the
// network.
export type TransferFigures = { sent: number; received: number; ms: number };

export class TransferMeter {
  #sent = 0;
  #received = 0;
  #busyMs = 0;
  #active = 0;
  #since = 0;

  /** A request begins; the function returned ends it, with the bytes it moved. */
  begin(): (moved: { sent: number; received: number }) => void {
    if (this.#active++ === 0) this.#since = performance.now();
    let ended = false;
    return (moved) => {
      if (ended) return;
      ended = true;
      this.#sent += moved.sent;
      this.#received += moved.received;
      if (--this.#active === 0) this.#busyMs += performance.now() - this.#since;
    };
  }

  figures(): TransferFigures {
    const open = this.#active > 0 ? performance.now() - this.#since : 0;
    return { sent: this.#sent, received: this.#received, ms: this.#busyMs + open };
  }
}

/**
 * Runs a backup or restore with a meter and adds `transfer` to its result: the bytes that
 * carry the run's data (`sent` for a backup, `received` for a restore) and the time in flight.
 */
export async function metered<T extends object>(work: (meter: TransferMeter) => Promise<T>, direction: 'sent' | 'received'): Promise<T & { transfer: { bytes: number; ms: number } }> {
  const meter = new TransferMeter();
  const result = await work(meter);
  const f = meter.figures();
  return { ...result, transfer: { bytes: f[direction], ms: Math.round(f.ms) } };
}
