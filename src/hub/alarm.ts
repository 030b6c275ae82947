/**
 * The object's one alarm, shared by housekeeping (the keepalive sweep; on shard 0 also forgetting earlier shard
 * counts) and the webhook outbox: it is always set to the earliest time either needs. The alarm time is read from
 * storage once per life of the object and then tracked in memory, so asking for a time already covered costs nothing.
 */
export class AlarmSchedule {
  /** When the alarm is set for (null: none), or undefined before it was read in this life of the object. */
  private alarmAt: number | null | undefined;
  /** When housekeeping is next due (null: nothing to watch), or undefined when unknown (then the next alarm does it). */
  private housekeepingAt: number | null | undefined;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** False once the object has no tenant: an alarm would then be all that is left of it. */
    private readonly alive: () => boolean,
  ) {}

  /** Makes sure housekeeping runs by `at` (a socket connected, a token was reserved). */
  async sweepBy(at: number): Promise<void> {
    if (this.housekeepingAt === null || (this.housekeepingAt !== undefined && this.housekeepingAt > at)) this.housekeepingAt = at;
    await this.wakeBy(at);
  }

  /** Makes sure the alarm fires at or before `at` (a time in the past means now). */
  async wakeBy(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.storage.getAlarm();
    if ((this.alarmAt !== null && this.alarmAt <= at) || !this.alive()) return;
    const when = Math.max(at, Date.now());
    this.alarmAt = when;
    await this.storage.setAlarm(when);
  }

  /** At the start of `alarm()`: the alarm is spent; says whether housekeeping is due. */
  begin(now: number): { housekeepingDue: boolean } {
    this.alarmAt = null;
    return { housekeepingDue: this.housekeepingAt === undefined || (this.housekeepingAt !== null && this.housekeepingAt <= now) };
  }

  /** At the end of `alarm()`: when housekeeping is next due if it ran (null: never), and when the outbox is. */
  async end(nextHousekeeping: number | null | 'not run', outboxDue: number | null): Promise<void> {
    if (nextHousekeeping !== 'not run') this.housekeepingAt = nextHousekeeping;
    const times = [this.housekeepingAt ?? null, outboxDue].filter((t): t is number => t !== null);
    if (times.length > 0) await this.wakeBy(Math.min(...times));
  }

  /** The object's storage is being erased. */
  forget(): void {
    this.alarmAt = undefined;
    this.housekeepingAt = null;
  }
}
