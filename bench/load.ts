/**
 * HTTP load with autocannon's programmatic API. Two servers are compared in
 * alternating rounds after each is warmed up, so that whatever else the
 * machine is doing falls on both alike.
 */
import autocannon from 'autocannon';

export interface LoadSettings {
  connections: number;
  /** Measured seconds per server, split over `rounds`. */
  durationSec: number;
  rounds: number;
  warmupSec: number;
}

export interface LoadFigures {
  /** Requests per second over the measured rounds (2xx and not). */
  rps: number;
  /** Mean of the rounds' medians. */
  p50Ms: number;
  /** The worst round's p99. */
  p99Ms: number;
  requests: number;
  /** Answers that were not 2xx, and connection errors/timeouts: any of these spoils the row. */
  failures: number;
}

interface Round {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
}

async function round(url: string, connections: number, durationSec: number): Promise<Round> {
  const result = await autocannon({ url, connections, duration: durationSec });
  return {
    requests: result.requests.total,
    seconds: (result.finish.getTime() - result.start.getTime()) / 1000,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

export function combineRounds(rounds: readonly Round[]): LoadFigures {
  const requests = rounds.reduce((sum, r) => sum + r.requests, 0);
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  return {
    rps: seconds > 0 ? requests / seconds : Number.NaN,
    p50Ms: rounds.reduce((sum, r) => sum + r.p50Ms, 0) / rounds.length,
    p99Ms: Math.max(...rounds.map((r) => r.p99Ms)),
    requests,
    failures: rounds.reduce((sum, r) => sum + r.failures, 0),
  };
}

/** Loads `first` and `second` (URLs) alike: a warm-up each, then alternating measured rounds. */
export async function compareLoad(
  first: string,
  second: string,
  settings: LoadSettings,
): Promise<[LoadFigures, LoadFigures]> {
  const seconds = settings.durationSec / settings.rounds;
  if (settings.warmupSec > 0) {
    await autocannon({
      url: first,
      connections: settings.connections,
      duration: settings.warmupSec,
    });
    await autocannon({
      url: second,
      connections: settings.connections,
      duration: settings.warmupSec,
    });
  }
  const a: Round[] = [];
  const b: Round[] = [];
  for (let i = 0; i < settings.rounds; i++) {
    // ABBA order: neither server always runs right after the other's load.
    if (i % 2 === 0) {
      a.push(await round(first, settings.connections, seconds));
      b.push(await round(second, settings.connections, seconds));
    } else {
      b.push(await round(second, settings.connections, seconds));
      a.push(await round(first, settings.connections, seconds));
    }
  }
  return [combineRounds(a), combineRounds(b)];
}
