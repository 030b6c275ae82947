/**
 * The object's one alarm, shared by the keepalive sweep and the webhook outbox: it is always set to the earliest
 * time either needs. The alarm time is read from storage once per life of the object and then tracked in memory,
 * so asking for a time already covered costs nothing.
 */
export class AlarmSchedule {
  /** When the alarm is set for (null: none), or undefined before it was read in this life of the object. */
  private alarmAt: number | null | undefined;
  /** When the keepalive sweep is next due (null: nothing to watch), or undefined when unknown (then the next alarm sweeps). */
  private sweepAt: number | null | undefined;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** Makes sure the sweep runs by `at` (a socket connected, a token was reserved). */
  async sweepBy(at: number): Promise<void> {
    if (this.sweepAt === null || (this.sweepAt !== undefined && this.sweepAt > at)) this.sweepAt = at;
    await this.wakeBy(at);
  }

  /** Makes sure the alarm fires at or before `at` (a time in the past means now). */
  async wakeBy(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    const when = Math.max(at, Date.now());
    this.alarmAt = when;
    await this.storage.setAlarm(when);
  }

  /** At the start of `alarm()`: the alarm is spent; says whether the sweep is due. */
  begin(now: number): { sweepDue: boolean } {
    this.alarmAt = null;
    return { sweepDue: this.sweepAt === undefined || (this.sweepAt !== null && this.sweepAt <= now) };
  }

  /** At the end of `alarm()`: `nextSweep` when the sweep ran (null: stop sweeping), and when the outbox is next due. */
  async end(nextSweep: number | null | 'not run', outboxDue: number | null): Promise<void> {
    if (nextSweep !== 'not run') this.sweepAt = nextSweep;
    const times = [this.sweepAt ?? null, outboxDue].filter((t): t is number => t !== null);
    if (times.length > 0) await this.wakeBy(Math.min(...times));
  }

  /** After the object's storage was erased. */
  forget(): void {
    this.alarmAt = undefined;
    this.sweepAt = null;
  }
}
