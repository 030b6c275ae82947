import type { Receivers } from '../core/validation';
import { FlowControl } from './flow-control';
import { History } from './history';
import { ShardDeliveries } from './idempotency';
import type { OutboundMessage } from './publish';
import type { Sockets } from './sockets';
import type { TenantStore } from './tenant-store';
import { V2Protocol } from './v2-protocol';

/**
 * What one shard does with a message: record it in history (when the stream records), send it to raw and mws.v2
 * sockets, and for a keyed push, at most once. Also the mws.v2 side of sockets: handshake and resume, acks, and the
 * alarm's share (history's lease and trims).
 */
export class ShardDelivery {
  readonly history: History;
  readonly v2: V2Protocol;
  private readonly flow: FlowControl;
  private readonly keyed: ShardDeliveries;

  constructor(
    storage: DurableObjectStorage,
    private readonly sockets: Sockets,
    store: TenantStore,
    keepaliveIntervalMs: number,
    where: () => string,
    /** Called when a push was recorded, so the alarm that ages history out is set. */
    private readonly onRecorded: () => void,
  ) {
    // The lease outlives maxAge by three sweeps, the sweep renewing it while mws.v2 sockets stay.
    this.history = new History(storage, () => store.historyPolicy(), 3 * keepaliveIntervalMs, () => this.flow.anyOpen());
    this.flow = new FlowControl(sockets, this.history, where);
    this.v2 = new V2Protocol(sockets, this.history, this.flow);
    this.keyed = new ShardDeliveries(storage);
  }

  /** Records and sends; with `once` (a keyed push) a message id this shard delivered before is not sent again. */
  deliver(receivers: Receivers, message: OutboundMessage, once: boolean): number {
    const deliver = (): number => {
      const stored = this.history.append(message.id, receivers, message.data, Date.now());
      if (stored !== null) this.onRecorded();
      return this.sockets.deliver(receivers, message.data, this.flow.liveSender(stored));
    };
    return once ? this.keyed.once(message.id, deliver) : deliver();
  }

  /** The alarm's share: keeps recording while mws.v2 sockets stay, trims; returns when stored history next expires. */
  sweep(now: number): number | null {
    if (this.flow.anyOpen()) this.history.renewLease(now);
    this.history.trim(now);
    return this.history.nextExpiryAt();
  }

  /** Drops what memory holds, as the object's storage is erased. */
  forget(): void {
    this.history.forget();
    this.keyed.forget();
  }
}
