/** Rows of the benchmark and how they are printed: a plain-text table and results.json. */

export interface Row {
  /** Short, stable name printed first on its line (the smoke test looks for it). */
  name: string;
  /** The broker's figure, formatted. */
  broker: string;
  /** The baseline's figure, formatted. */
  baseline: string;
  /** broker ÷ baseline (or the row's own comparison), formatted. */
  ratio: string;
  /** The target, in words. */
  target: string;
  /** Whether the target is met; undefined when the row has no target of its own. */
  met: boolean | undefined;
  skipped?: boolean;
  /** Extra figures and context (p99, what was compared). */
  note?: string;
  /** Raw numbers for results.json. */
  figures?: Record<string, number>;
}

export function skippedRow(name: string, target: string, reason: string): Row {
  return {
    name,
    broker: '—',
    baseline: '—',
    ratio: '—',
    target,
    met: undefined,
    skipped: true,
    note: `skipped: ${reason}`,
  };
}

/** `0.91×`; `n/a` when the ratio cannot be computed. */
export function formatRatio(numerator: number, denominator: number): string {
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator === 0)
    return 'n/a';
  const ratio = numerator / denominator;
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

/** A number with a fixed count of decimals and thousands separators: 12 345.6 */
export function formatNumber(value: number, decimals = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  const [whole = '0', fraction] = Math.abs(value).toFixed(decimals).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return `${value < 0 ? '-' : ''}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  if (Math.abs(bytes) >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (Math.abs(bytes) >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

const HEADERS = ['row', 'broker', 'baseline', 'ratio', 'target', 'met'] as const;

function verdict(row: Row): string {
  if (row.skipped === true) return 'skipped';
  if (row.met === undefined) return '—';
  return row.met ? 'yes' : 'NO';
}

/** A monospace table, one line per row, with each row's note indented underneath. */
export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((row) => [
    row.name,
    row.broker,
    row.baseline,
    row.ratio,
    row.target,
    verdict(row),
  ]);
  const widths = HEADERS.map((header, column) =>
    Math.max(header.length, ...cells.map((line) => [...(line[column] ?? '')].length)),
  );
  const render = (line: readonly string[]): string =>
    line
      .map((cell, column) => cell + ' '.repeat((widths[column] ?? 0) - [...cell].length))
      .join('  ')
      .trimEnd();
  const out = [render(HEADERS), render(widths.map((width) => '-'.repeat(width)))];
  rows.forEach((row, index) => {
    out.push(render(cells[index] ?? []));
    if (row.note !== undefined) out.push(`    ${row.note}`);
  });
  return `${out.join('\n')}\n`;
}

/** The table as Markdown, for the README. */
export function formatMarkdown(rows: readonly Row[]): string {
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [
    line(HEADERS),
    line(HEADERS.map(() => '---')),
    ...rows.map((row) =>
      line([row.name, row.broker, row.baseline, row.ratio, row.target, verdict(row)]),
    ),
  ].join('\n');
}
